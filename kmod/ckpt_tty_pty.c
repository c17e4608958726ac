// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt_tty: checkpoint and restore of UNIX98 pty pairs.
 *
 * A snapshot holds, for both ends at once, the locks the tty layer itself
 * takes for each piece of state (see ckpt_tty_lock_pair()), so it is
 * consistent while readers and writers go on.  It does not need
 * atomic_read_lock, which a reader sleeping in read() keeps: consuming the
 * ring (read_tail, read_flags) happens only under termios_rwsem, which we
 * hold for writing.
 *
 * struct n_tty_data is private to drivers/tty/n_tty.c; its members are
 * reached through offsets generated from the target kernel's BTF
 * (generated/ntty_layout.h).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>	/* fault_in_writeable() */
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/tty.h>
#include <linux/tty_driver.h>
#include <linux/tty_flip.h>
#include <linux/tty_ldisc.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "ckpt_tty.h"
#include "ntty_layout.h"

#define CREATE_TRACE_POINTS
#include "ckpt_tty_trace.h"

static_assert(CKPT_TTY_RING_SIZE == N_TTY_BUF_SIZE);
static_assert(CKPT_TTY_RING_FLAG_BYTES * 8 == N_TTY_BUF_SIZE);
static_assert(CKPT_TTY_NCCS == NCCS);
static_assert(CKPT_NTTY_READ_BUF_SIZE == N_TTY_BUF_SIZE);
static_assert(CKPT_NTTY_ECHO_BUF_SIZE == N_TTY_BUF_SIZE);
static_assert(CKPT_NTTY_READ_FLAGS_SIZE * 8 == N_TTY_BUF_SIZE);
static_assert(CKPT_NTTY_READ_HEAD_SIZE == sizeof(size_t));
static_assert(CKPT_NTTY_LOOKAHEAD_COUNT_SIZE == sizeof(size_t));
static_assert(CKPT_NTTY_ECHO_TAIL_SIZE == sizeof(size_t));
static_assert(CKPT_NTTY_COLUMN_SIZE == sizeof(unsigned int));
static_assert(CKPT_NTTY_CANON_COLUMN_SIZE == sizeof(unsigned int));
/* BTF bit offsets count from the least significant bit only on little endian. */
#ifndef __LITTLE_ENDIAN
#error "ckpt_tty reads n_tty_data bitfields as a little-endian kernel lays them out"
#endif

/* Members of struct n_tty_data, through the generated offsets. */
#define NTTY_SIZE_T(ld, NAME) (*(size_t *)((u8 *)(ld) + CKPT_NTTY_##NAME##_OFFSET))
#define NTTY_UINT(ld, NAME) (*(unsigned int *)((u8 *)(ld) + CKPT_NTTY_##NAME##_OFFSET))
#define NTTY_BYTES(ld, NAME) ((u8 *)(ld) + CKPT_NTTY_##NAME##_OFFSET)
#define NTTY_BITMAP(ld, NAME) ((unsigned long *)((u8 *)(ld) + CKPT_NTTY_##NAME##_OFFSET))

static bool ntty_bit(const void *ld, unsigned int bitoff)
{
	return (((const u8 *)ld)[bitoff / 8] >> (bitoff % 8)) & 1;
}

static void ntty_set_bit(void *ld, unsigned int bitoff, bool on)
{
	u8 *byte = (u8 *)ld + bitoff / 8;

	if (on)
		*byte |= 1U << (bitoff % 8);
	else
		*byte &= ~(1U << (bitoff % 8));
}

/*
 * include/linux/tty_buffer.h: in 6.1 tty_buffer.flags is a bit mask where
 * TTYB_NORMAL means "no flag area"; in 6.12 it is a bool "has a flag area".
 */
static bool ckpt_tty_buffer_has_flags(const struct tty_buffer *b)
{
#ifdef TTYB_NORMAL
	return !(b->flags & TTYB_NORMAL);
#else
	return b->flags;
#endif
}

/*
 * tty_fops and tty_release() are not exported, yet every tty file, pty
 * master and slave alike (and a hung-up one), has f_op->release ==
 * tty_release, and only tty files do: that is how we recognise one.  Learn
 * the address from a pty of our own, in a devpts instance mounted inside
 * the kernel for a moment, so that no path anybody can bind-mount over
 * (/dev/ptmx in insmod's namespace) decides what a tty file is.
 */
static int (*ckpt_tty_release_op)(struct inode *, struct file *);

int ckpt_tty_pty_init(void)
{
	struct file_system_type *devpts = get_fs_type("devpts");
	struct vfsmount *mnt;
	struct file *ptmx;

	if (!devpts) {
		pr_err("no devpts filesystem: UNIX98 ptys are not configured\n");
		return -ENODEV;
	}
	mnt = kern_mount(devpts);
	module_put(devpts->owner);	/* put_filesystem() is not exported */
	if (IS_ERR(mnt)) {
		pr_err("cannot mount a private devpts instance: %ld\n", PTR_ERR(mnt));
		return PTR_ERR(mnt);
	}
	ptmx = file_open_root_mnt(mnt, "ptmx", O_RDWR | O_NOCTTY, 0);
	if (IS_ERR(ptmx)) {
		pr_err("cannot open ptmx of a private devpts instance: %ld\n", PTR_ERR(ptmx));
		kern_unmount(mnt);
		return PTR_ERR(ptmx);
	}
	ckpt_tty_release_op = ptmx->f_op->release;
	fput(ptmx);
	kern_unmount(mnt);
	return 0;
}

struct ckpt_tty_pair_ref {
	struct file *file;
	struct tty_struct *master;
	struct tty_struct *slave;
	struct tty_ldisc *ld_master;
	struct tty_ldisc *ld_slave;
	unsigned int op;	/* CKPT_TTY_TRACE_OP_*: what the pair is locked for */
};

/* Resolve fd to a UNIX98 pty pair; holds the file and both ttys. */
static int ckpt_tty_get_pair(int fd, struct ckpt_tty_pair_ref *p)
{
	struct tty_struct *tty;
	int ret;

	p->file = fget(fd);
	if (!p->file)
		return -EBADF;
	ret = -ENOTTY;
	if (!ckpt_tty_release_op || p->file->f_op->release != ckpt_tty_release_op || !p->file->private_data)
		goto err;
	/*
	 * A hung-up file (hung_up_tty_fops) keeps its tty_file_private until
	 * release, so it still names its tty: checkpoint takes it, as the only
	 * handle left on a slave whose master is closed.
	 */
	tty = ((struct tty_file_private *)p->file->private_data)->tty;
	ret = -EOPNOTSUPP;
	if (tty->driver->type != TTY_DRIVER_TYPE_PTY || !(tty->driver->flags & TTY_DRIVER_DEVPTS_MEM))
		goto err;
	p->master = tty->driver->subtype == PTY_TYPE_MASTER ? tty : tty->link;
	p->slave = p->master ? p->master->link : NULL;
	ret = -EINVAL;
	if (!p->slave || p->slave->link != p->master || p->master == p->slave)
		goto err;
	tty_kref_get(p->master);
	tty_kref_get(p->slave);
	return 0;
err:
	fput(p->file);
	return ret;
}

static void ckpt_tty_put_pair(struct ckpt_tty_pair_ref *p)
{
	tty_kref_put(p->slave);
	tty_kref_put(p->master);
	fput(p->file);
}

/*
 * The waits below end on a fatal signal.  A reader that is copying to user
 * memory holds termios_rwsem (read) across n_tty_read()'s continuations, and
 * a userfaultfd- or FUSE-backed buffer can make that last as long as its
 * owner likes; a checkpointer waiting for it can then still be killed.
 * Same lock and reference as tty_lock() (drivers/tty/tty_mutex.c), whose
 * tty_lock_interruptible() is not exported.
 */
static int ckpt_tty_lock_killable(struct tty_struct *tty)
{
	tty_kref_get(tty);
	if (mutex_lock_killable(&tty->legacy_mutex)) {
		tty_kref_put(tty);
		return -EINTR;
	}
	return 0;
}

/* tty_buffer_lock_exclusive(), killable */
static int ckpt_tty_buffer_lock_killable(struct tty_port *port)
{
	atomic_inc(&port->buf.priority);
	if (mutex_lock_killable(&port->buf.lock)) {
		atomic_dec(&port->buf.priority);
		return -EINTR;
	}
	return 0;
}

/*
 * tty_buffer_unlock_exclusive(), then restart the flip work if any committed
 * byte waits in any buffer.  Upstream restarts it only when buf.head holds
 * unread bytes (drivers/tty/tty_buffer.c, 6.1 and 6.12); but flush_to_ldisc()
 * also stops for our priority just after it emptied head, with bytes waiting
 * in head->next.  Nothing restarts it then: a pty writer waiting for room and
 * a reader waiting for data would wait for each other for ever (found by
 * reading the code; kmod/INVARIANTS.md, "Liveness").  Called with buf.lock
 * held, so head and the chain are stable.
 */
static void ckpt_tty_buffer_unlock(struct tty_port *port)
{
	struct tty_buffer *b;
	bool waiting = false;

	for (b = port->buf.head; b && !waiting; b = smp_load_acquire(&b->next))
		waiting = smp_load_acquire(&b->commit) != b->read;
	tty_buffer_unlock_exclusive(port);
	if (waiting)
		queue_work(system_unbound_wq, &port->buf.work);
}

/*
 * Lock both ends against every change of the state we save or restore:
 *
 *   tty_lock master, then slave (slave has lockdep subclass TTY_LOCK_SLAVE):
 *       no open, close, hangup or ldisc change;
 *   ldisc references (trylock: never wait for a hangup while holding tty_lock);
 *   slave buf.lock, slave termios_rwsem (write),
 *   master buf.lock, master termios_rwsem (write):
 *       no receive (flush_to_ldisc, lookahead), read, write or echo on
 *       either side.  This is the order of the slave's receive path, which
 *       can flush the master's buffer (isig -> pty_flush_buffer).
 *
 * Readers and writers drop termios_rwsem before they wait for data or
 * room, but not while copying to user memory (see above): every wait here
 * is killable.
 */
static int ckpt_tty_lock_pair(struct ckpt_tty_pair_ref *p)
{
	int ret;

	/*
	 * Yield now if a task waits for this CPU, not at one of the sleeping
	 * locks below (might_sleep() reschedules under voluntary preemption)
	 * with the pair half frozen.
	 */
	cond_resched();
	ret = ckpt_tty_lock_killable(p->master);
	if (ret)
		return ret;
	trace_ckpt_tty_locked(p->slave->index, p->op);
	ret = ckpt_tty_lock_killable(p->slave);
	if (ret)
		goto err_unlock_master;
	/*
	 * Under the tty lock the line discipline cannot come or go: hangup
	 * (__tty_hangup), reopen (tty_reopen) and TIOCSETD take it.  A hung-up
	 * end has none (see ckpt_tty_ntty()); any other end without one is
	 * half-way through something: busy.
	 */
	p->ld_master = tty_ldisc_ref(p->master);
	p->ld_slave = tty_ldisc_ref(p->slave);
	ret = -EBUSY;
	if ((!p->ld_master && !test_bit(TTY_HUPPED, &p->master->flags)) ||
	    (!p->ld_slave && !test_bit(TTY_HUPPED, &p->slave->flags)))
		goto err_deref_slave;
	ret = -EOPNOTSUPP;
	if ((p->ld_master && p->ld_master->ops->num != N_TTY) || (p->ld_slave && p->ld_slave->ops->num != N_TTY))
		goto err_deref_slave;
	ret = ckpt_tty_buffer_lock_killable(p->slave->port);
	if (ret)
		goto err_deref_slave;
	ret = -EINTR;
	if (down_write_killable(&p->slave->termios_rwsem))
		goto err_unlock_slave_buf;
	ret = ckpt_tty_buffer_lock_killable(p->master->port);
	if (ret)
		goto err_unlock_slave_termios;
	ret = -EINTR;
	if (down_write_killable(&p->master->termios_rwsem))
		goto err_unlock_master_buf;
	if ((p->ld_master && !p->master->disc_data) || (p->ld_slave && !p->slave->disc_data)) {
		ret = -EBUSY;
		goto err_unlock_all;
	}
	return 0;

err_unlock_all:
	up_write(&p->master->termios_rwsem);
err_unlock_master_buf:
	ckpt_tty_buffer_unlock(p->master->port);
err_unlock_slave_termios:
	up_write(&p->slave->termios_rwsem);
err_unlock_slave_buf:
	ckpt_tty_buffer_unlock(p->slave->port);
err_deref_slave:
	if (p->ld_slave)
		tty_ldisc_deref(p->ld_slave);
	if (p->ld_master)
		tty_ldisc_deref(p->ld_master);
	tty_unlock(p->slave);
err_unlock_master:
	tty_unlock(p->master);
	trace_ckpt_tty_unlocked(p->slave->index, p->op);
	return ret;
}

static void ckpt_tty_unlock_pair(struct ckpt_tty_pair_ref *p)
{
	up_write(&p->master->termios_rwsem);
	ckpt_tty_buffer_unlock(p->master->port);
	up_write(&p->slave->termios_rwsem);
	ckpt_tty_buffer_unlock(p->slave->port);
	if (p->ld_slave)
		tty_ldisc_deref(p->ld_slave);
	if (p->ld_master)
		tty_ldisc_deref(p->ld_master);
	tty_unlock(p->slave);
	tty_unlock(p->master);
	trace_ckpt_tty_unlocked(p->slave->index, p->op);
}

/*
 * The n_tty state of a locked end, or NULL for a hung-up end, which has no
 * line discipline.  A hung-up end that kept one (tty_ldisc_hangup() reinits
 * it for a console-redirect file) is one restore could not make: refused.
 */
static int ckpt_tty_ntty(const struct ckpt_tty_pair_ref *p, struct tty_struct *tty, void **ld)
{
	bool has_ldisc = tty == p->master ? p->ld_master : p->ld_slave;

	*ld = has_ldisc ? tty->disc_data : NULL;
	if (has_ldisc && test_bit(TTY_HUPPED, &tty->flags))
		return -EOPNOTSUPP;
	return 0;
}

/* ---- checkpoint ---- */

static void ckpt_tty_save_termios(struct ckpt_tty_termios *out, const struct ktermios *kt)
{
	out->c_iflag = kt->c_iflag;
	out->c_oflag = kt->c_oflag;
	out->c_cflag = kt->c_cflag;
	out->c_lflag = kt->c_lflag;
	out->c_ispeed = kt->c_ispeed;
	out->c_ospeed = kt->c_ospeed;
	out->c_line = kt->c_line;
	memcpy(out->c_cc, kt->c_cc, NCCS);
}

static void ckpt_tty_save_winsize(struct ckpt_tty_end *e, const struct winsize *ws)
{
	e->ws_row = ws->ws_row;
	e->ws_col = ws->ws_col;
	e->ws_xpixel = ws->ws_xpixel;
	e->ws_ypixel = ws->ws_ypixel;
}

/* What one end's data will hold; all locks of ckpt_tty_lock_pair() held. */
struct ckpt_tty_end_size {
	u64 input_len, echo_len;
	u32 flip_count;
	u32 flip_lookahead;	/* of those, the prefix lookahead_bufs() has seen */
	bool flip_flagged;
};

/*
 * The record goes straight into the caller's buffer, written while the
 * pair is locked, with page faults disabled: a fault there would keep the
 * pair frozen for as long as the fault takes (for ever, on a userfaultfd
 * buffer).  A write that would fault marks the record failed; the pair is
 * unlocked, the buffer faulted in, and the snapshot taken again.
 */
struct ckpt_tty_out {
	u8 __user *at;		/* the next byte */
	bool failed;		/* a write faulted: the bytes written are no record */
};

/* What ckpt_tty_checkpoint_pair() builds before it writes it out; in the call's kernel buffer. */
struct ckpt_tty_scratch {
	struct ckpt_tty_record r;
	struct ckpt_tty_end e;
	u8 line_ends[CKPT_TTY_RING_FLAG_BYTES];
};

/* Padding, and flag bytes of flip buffers without a flag area (TTY_NORMAL is 0). */
static const u8 ckpt_tty_zeros[64];

/*
 * n bytes to the caller; pagefault_disable() held.  Not through
 * __copy_to_user_inatomic(): its hardened-usercopy check looks up every
 * vmalloc'd source (n_tty_data) in the vmap tree, a record's ten parts cost
 * more than the copies.  The sources here are ours, and n is within them.
 */
static void ckpt_tty_out(struct ckpt_tty_out *o, const void *src, size_t n)
{
	if (n && !o->failed) {
		if (!user_write_access_begin(o->at, n))
			goto failed;
		unsafe_copy_to_user(o->at, src, n, failed_access);
		user_write_access_end();
	}
	o->at += n;
	return;

failed_access:
	user_write_access_end();
failed:
	o->failed = true;
	o->at += n;
}

static void ckpt_tty_out_zeros(struct ckpt_tty_out *o, u64 n)
{
	while (n) {
		size_t chunk = min_t(u64, n, sizeof(ckpt_tty_zeros));

		ckpt_tty_out(o, ckpt_tty_zeros, chunk);
		n -= chunk;
	}
}

/* The zero bytes from len up to the next multiple of 8: a part's padding. */
static void ckpt_tty_out_pad(struct ckpt_tty_out *o, u64 len)
{
	ckpt_tty_out(o, ckpt_tty_zeros, ALIGN(len, 8) - len);
}

/*
 * Walk the pending flip-buffer bytes, at most limit of them: measure them
 * into size, or write them to data and their flags to flags (if not NULL);
 * how many it found.  Caller holds buf.lock: no consumer runs, so nothing
 * is taken off and the lookahead marks stay; producers (pty_write) append
 * under port->lock, which we take, after what an earlier walk saw.
 */
static u32 ckpt_tty_walk_flip(struct tty_port *port, u32 limit, struct ckpt_tty_end_size *size,
			       struct ckpt_tty_out *data, struct ckpt_tty_out *flags)
{
	struct tty_buffer *b;
	unsigned long irqflags;
	u32 n = 0, lookahead = 0;
	bool prefix = true, flagged = false;

	spin_lock_irqsave(&port->lock, irqflags);
	for (b = port->buf.head; b && n < limit; b = smp_load_acquire(&b->next)) {
		unsigned int read = b->read, used = READ_ONCE(b->used), count, seen;

		if (used <= read)
			continue;
		count = min_t(u64, used - read, (u64)limit - n);
		flagged |= ckpt_tty_buffer_has_flags(b);
		if (data) {
			ckpt_tty_out(data, char_buf_ptr(b, read), count);
			if (flags && ckpt_tty_buffer_has_flags(b))
				ckpt_tty_out(flags, flag_buf_ptr(b, read), count);
			else if (flags)
				ckpt_tty_out_zeros(flags, count);
		}
		/* lookahead_bufs() covers a prefix of the pending bytes */
		seen = (unsigned int)b->lookahead > read ? min_t(unsigned int, b->lookahead - read, count) : 0;
		if (prefix) {
			lookahead += seen;
			prefix = seen == count;
		}
		n += count;
	}
	spin_unlock_irqrestore(&port->lock, irqflags);
	if (size) {
		size->flip_count = min_t(u32, n, CKPT_TTY_FLIP_MAX + 1);
		size->flip_lookahead = min(lookahead, size->flip_count);
		size->flip_flagged = flagged;
	}
	return n;
}

/*
 * read_head as the reader sees it.  Under ICANON|EXTPROC, a receive that
 * fills the ring while canon_head == read_tail ends with one more turn of
 * n_tty_receive_buf_common()'s loop, whose overflow branch takes read_head
 * back by one after __receive_buf() published commit_head = read_head
 * (drivers/tty/n_tty.c, 6.1 and 6.12).  The reader (non-canonical under
 * EXTPROC) reads up to commit_head, so the byte at read_head is still
 * input.  Saving read_head = commit_head keeps it: the state n_tty was in
 * one loop turn earlier, which its next receive turns back into this one
 * (it overwrites that byte, as it would have).  TIOCINQ, read_head -
 * read_tail, then counts the byte (4096, where n_tty said 4095).
 */
static size_t ckpt_tty_read_head(const struct tty_struct *tty, void *ld)
{
	size_t head = NTTY_SIZE_T(ld, READ_HEAD), commit = NTTY_SIZE_T(ld, COMMIT_HEAD);

	if (L_ICANON(tty) && L_EXTPROC(tty) && commit == head + 1 &&
	    head - NTTY_SIZE_T(ld, READ_TAIL) == CKPT_TTY_RING_SIZE - 1)
		return commit;
	return head;
}

/* ld: the end's n_tty_data, NULL when hung up (ckpt_tty_ntty()) */
static int ckpt_tty_measure_end(struct tty_struct *tty, void *ld, struct ckpt_tty_end_size *size)
{
	size->input_len = ld ? ckpt_tty_read_head(tty, ld) - NTTY_SIZE_T(ld, READ_TAIL) : 0;
	size->echo_len = ld ? NTTY_SIZE_T(ld, ECHO_HEAD) - NTTY_SIZE_T(ld, ECHO_TAIL) : 0;
	ckpt_tty_walk_flip(tty->port, U32_MAX, size, NULL, NULL);
	/* n_tty exceeds its ring only in one corner (ICANON|PARMRK overflow, kmod/INVARIANTS.md) */
	if (size->input_len > CKPT_TTY_RING_SIZE || size->echo_len > CKPT_TTY_RING_SIZE ||
	    size->flip_count > CKPT_TTY_FLIP_MAX)
		return -EOVERFLOW;
	return 0;
}

/* len ring bytes from index from on, in order, and their padding */
static void ckpt_tty_out_ring(struct ckpt_tty_out *o, const u8 *ring, u64 from, u64 len)
{
	u64 pos = from & (CKPT_TTY_RING_SIZE - 1), first = min_t(u64, len, CKPT_TTY_RING_SIZE - pos);

	ckpt_tty_out(o, ring + pos, first);
	ckpt_tty_out(o, ring, len - first);
	ckpt_tty_out_pad(o, len);
}

/*
 * The read_flags bits of len ring positions from index from on, as a
 * little-endian bitmap in out (zeroed here).  find_next_bit() goes a word at
 * a time: input is mostly bytes that are not line ends.
 */
static void ckpt_tty_copy_line_ends(u8 *out, const unsigned long *ring_bits, u64 from, u64 len)
{
	unsigned long pos = from & (CKPT_TTY_RING_SIZE - 1);
	unsigned long first = min_t(u64, len, CKPT_TTY_RING_SIZE - pos), bit;

	memset(out, 0, DIV_ROUND_UP(len, 8));
	for (bit = find_next_bit(ring_bits, pos + first, pos); bit < pos + first;
	     bit = find_next_bit(ring_bits, pos + first, bit + 1))
		out[(bit - pos) / 8] |= 1U << ((bit - pos) % 8);
	for (bit = find_next_bit(ring_bits, len - first, 0); bit < len - first;
	     bit = find_next_bit(ring_bits, len - first, bit + 1))
		out[(first + bit) / 8] |= 1U << ((first + bit) % 8);
}

/*
 * One end, its header and then its data (sized by size), to o; all locks
 * held.  A hung-up end (ld NULL) keeps its n_tty fields 0: it has no n_tty
 * state.
 */
static void ckpt_tty_save_end(struct tty_struct *tty, void *ld, const struct ckpt_tty_end_size *size,
			      const struct winsize *ws, struct ckpt_tty_scratch *s, struct ckpt_tty_out *o)
{
	struct ckpt_tty_end *e = &s->e;
	struct ckpt_tty_out flip, flip_flags;
	unsigned long irqflags;
	u64 line_end_bytes = DIV_ROUND_UP(size->input_len, 8);
	u32 copied;

	memset(e, 0, sizeof(*e));
	ckpt_tty_save_termios(&e->termios, &tty->termios);
	ckpt_tty_save_termios(&e->termios_locked, &tty->termios_locked);
	ckpt_tty_save_winsize(e, ws);
	e->ldisc = N_TTY;
	if (test_bit(TTY_EXCLUSIVE, &tty->flags))
		e->flags |= CKPT_TTY_END_EXCLUSIVE;
	if (test_bit(TTY_PTY_LOCK, &tty->flags))
		e->flags |= CKPT_TTY_END_PTY_LOCK;
	if (test_bit(TTY_OTHER_CLOSED, &tty->flags))
		e->flags |= CKPT_TTY_END_OTHER_CLOSED;
	if (test_bit(TTY_HUPPED, &tty->flags))
		e->flags |= CKPT_TTY_END_HUPPED;
	spin_lock_irqsave(&tty->flow.lock, irqflags);
	if (tty->flow.stopped)
		e->flags |= CKPT_TTY_END_STOPPED;
	if (tty->flow.tco_stopped)
		e->flags |= CKPT_TTY_END_TCO_STOPPED;
	spin_unlock_irqrestore(&tty->flow.lock, irqflags);
	spin_lock_irqsave(&tty->ctrl.lock, irqflags);
	if (tty->ctrl.packet)
		e->flags |= CKPT_TTY_END_PACKET;
	e->pktstatus = tty->ctrl.pktstatus;
	spin_unlock_irqrestore(&tty->ctrl.lock, irqflags);
	e->flip_count = size->flip_count;
	e->flip_lookahead = size->flip_lookahead;
	e->flip_flagged = size->flip_flagged;
	e->data_size = ckpt_tty_end_data_size(size->input_len, size->echo_len, size->flip_count,
					      size->flip_flagged);
	if (ld) {
		e->read_head = ckpt_tty_read_head(tty, ld);
		e->commit_head = NTTY_SIZE_T(ld, COMMIT_HEAD);
		e->canon_head = NTTY_SIZE_T(ld, CANON_HEAD);
		e->read_tail = NTTY_SIZE_T(ld, READ_TAIL);
		e->line_start = NTTY_SIZE_T(ld, LINE_START);
		e->lookahead_count = NTTY_SIZE_T(ld, LOOKAHEAD_COUNT);
		e->echo_head = NTTY_SIZE_T(ld, ECHO_HEAD);
		e->echo_commit = NTTY_SIZE_T(ld, ECHO_COMMIT);
		e->echo_mark = NTTY_SIZE_T(ld, ECHO_MARK);
		e->echo_tail = NTTY_SIZE_T(ld, ECHO_TAIL);
		e->column = NTTY_UINT(ld, COLUMN);
		e->canon_column = NTTY_UINT(ld, CANON_COLUMN);
		e->ntty_flags = (ntty_bit(ld, CKPT_NTTY_LNEXT_BITOFF) ? CKPT_TTY_NTTY_LNEXT : 0) |
				(ntty_bit(ld, CKPT_NTTY_ERASING_BITOFF) ? CKPT_TTY_NTTY_ERASING : 0) |
				(ntty_bit(ld, CKPT_NTTY_PUSH_BITOFF) ? CKPT_TTY_NTTY_PUSH : 0) |
				(ntty_bit(ld, CKPT_NTTY_ICANON_BITOFF) ? CKPT_TTY_NTTY_ICANON : 0) |
				(ntty_bit(ld, CKPT_NTTY_RAW_BITOFF) ? CKPT_TTY_NTTY_RAW : 0) |
				(ntty_bit(ld, CKPT_NTTY_REAL_RAW_BITOFF) ? CKPT_TTY_NTTY_REAL_RAW : 0) |
				(READ_ONCE(*NTTY_BYTES(ld, NO_ROOM)) ? CKPT_TTY_NTTY_NO_ROOM : 0);
	}
	ckpt_tty_out(o, e, sizeof(*e));

	/*
	 * Only what is still to be read or echoed: n_tty leaves consumed input
	 * in read_buf (it zeroes it only for ICANON without ECHO), and a
	 * password read in raw mode must not leave the kernel here.  Line ends
	 * likewise for unread input only (ICANON|EXTPROC leaves dead push bits).
	 * A hung-up end has none of these (input_len and echo_len are 0).
	 */
	if (ld) {
		ckpt_tty_out_ring(o, NTTY_BYTES(ld, READ_BUF), e->read_tail, size->input_len);
		ckpt_tty_copy_line_ends(s->line_ends, NTTY_BITMAP(ld, READ_FLAGS), e->read_tail, size->input_len);
		ckpt_tty_out(o, s->line_ends, line_end_bytes);
		ckpt_tty_out_pad(o, line_end_bytes);
		ckpt_tty_out_ring(o, NTTY_BYTES(ld, ECHO_BUF), e->echo_tail, size->echo_len);
	}

	flip = *o;
	flip_flags = *o;
	flip_flags.at += ALIGN(size->flip_count, 8);
	copied = ckpt_tty_walk_flip(tty->port, size->flip_count, NULL, &flip, size->flip_flagged ? &flip_flags : NULL);
	/* producers only add while buf.lock is ours, so nothing is left; were it, no heap bytes leave */
	if (WARN_ON_ONCE(copied < size->flip_count)) {
		ckpt_tty_out_zeros(&flip, size->flip_count - copied);
		if (size->flip_flagged)
			ckpt_tty_out_zeros(&flip_flags, size->flip_count - copied);
	}
	ckpt_tty_out_pad(&flip, size->flip_count);
	if (size->flip_flagged)
		ckpt_tty_out_pad(&flip_flags, size->flip_count);
	o->failed |= flip.failed || flip_flags.failed;
	o->at = size->flip_flagged ? flip_flags.at : flip.at;
}

/*
 * The devpts instance of a locked pair: the superblock of the slave's node.
 * ptmx_open() keeps that dentry in the slave's driver_data, and the
 * master's close drops it (pty_close -> devpts_pty_kill) after setting
 * TTY_OTHER_CLOSED on the slave, under the master's tty lock, which we hold.
 */
static u32 ckpt_tty_devpts_dev(const struct ckpt_tty_pair_ref *p)
{
	const struct dentry *slave_node = p->slave->driver_data;

	if (test_bit(TTY_OTHER_CLOSED, &p->slave->flags) || !slave_node)
		return 0;
	return new_encode_dev(slave_node->d_sb->s_dev);
}

/* Faulted-in retries of one snapshot before the caller's buffer counts as bad (EFAULT). */
#define CKPT_TTY_OUT_TRIES 3

/*
 * A record of the pair fd belongs to, written to dest, which has room
 * bytes; its size in *size.  -ENOSPC (nothing written) when it needs more
 * than room: how much in *size.  The record is one snapshot, taken with
 * every lock of the pair held; the only memory the module uses is the
 * small scratch part of *buf, reserved before the pair is locked.
 */
int ckpt_tty_checkpoint_pair(int fd, u8 __user *dest, u64 room, struct ckpt_tty_buf **buf, u32 *size)
{
	struct ckpt_tty_end_size msize, ssize;
	struct ckpt_tty_scratch *s;
	struct ckpt_tty_pair_ref p;
	struct ckpt_tty_out o;
	struct winsize wm, ws;
	void *mld, *sld;
	int ret, tries;

	ret = ckpt_tty_get_pair(fd, &p);
	if (ret)
		return ret;
	ret = ckpt_tty_buf_reserve(buf, sizeof(*s));
	if (ret)
		goto out_put;
	s = (struct ckpt_tty_scratch *)(*buf)->data;
	p.op = CKPT_TTY_TRACE_OP_CHECKPOINT;
	for (tries = 1; ; tries++) {
		ret = -EINTR;
		if (mutex_lock_killable(&p.slave->winsize_mutex))	/* resizes (tty_do_resize, pty_resize) hold it */
			goto out_put;
		wm = p.master->winsize;
		ws = p.slave->winsize;
		mutex_unlock(&p.slave->winsize_mutex);

		ret = ckpt_tty_lock_pair(&p);
		if (ret)
			goto out_put;
		ret = ckpt_tty_ntty(&p, p.master, &mld);
		if (!ret)
			ret = ckpt_tty_ntty(&p, p.slave, &sld);
		if (!ret)
			ret = ckpt_tty_measure_end(p.master, mld, &msize);
		if (!ret)
			ret = ckpt_tty_measure_end(p.slave, sld, &ssize);
		if (ret)
			goto out_unlock;
		*size = sizeof(s->r) + 2 * sizeof(struct ckpt_tty_end) +
			ckpt_tty_end_data_size(msize.input_len, msize.echo_len, msize.flip_count, msize.flip_flagged) +
			ckpt_tty_end_data_size(ssize.input_len, ssize.echo_len, ssize.flip_count, ssize.flip_flagged);
		ret = -ENOSPC;
		if (*size > room)
			goto out_unlock;
		ret = -EFAULT;
		if (!access_ok(dest, *size))
			goto out_unlock;
		memset(&s->r, 0, sizeof(s->r));
		s->r.size = *size;
		s->r.fd = fd;
		s->r.index = p.slave->index;
		s->r.devpts_dev = ckpt_tty_devpts_dev(&p);
		o = (struct ckpt_tty_out){ .at = dest };
		pagefault_disable();
		ckpt_tty_out(&o, &s->r, sizeof(s->r));
		ckpt_tty_save_end(p.master, mld, &msize, &wm, s, &o);
		ckpt_tty_save_end(p.slave, sld, &ssize, &ws, s, &o);
		pagefault_enable();
		ckpt_tty_unlock_pair(&p);
		if (!o.failed) {
			ret = 0;
			break;
		}
		/* not one of our locks held: the fault may take its time */
		ret = -EFAULT;
		if (tries == CKPT_TTY_OUT_TRIES || fault_in_writeable((char __user *)dest, *size))
			break;
	}
	goto out_put;

out_unlock:
	ckpt_tty_unlock_pair(&p);
out_put:
	ckpt_tty_put_pair(&p);
	return ret;
}

/* ---- restore ---- */

static void ckpt_tty_load_termios(struct ktermios *kt, const struct ckpt_tty_termios *in)
{
	memset(kt, 0, sizeof(*kt));
	kt->c_iflag = in->c_iflag;
	kt->c_oflag = in->c_oflag;
	kt->c_cflag = in->c_cflag;
	kt->c_lflag = in->c_lflag;
	kt->c_ispeed = in->c_ispeed;
	kt->c_ospeed = in->c_ospeed;
	kt->c_line = in->c_line;
	memcpy(kt->c_cc, in->c_cc, NCCS);
}

/*
 * What tty_set_termios() (drivers/tty/tty_ioctl.c) does, with a killable
 * wait for termios_rwsem (on a terminal in use a reader can hold it for as
 * long as its user buffer takes to fault in), and without applying the
 * target's locked termios: the image's termios replace them, and its own
 * locked termios load with the rest.  ADDRB keeps its value, as there; the
 * driver's and the ldisc's hooks run (pty_set_termios(), n_tty_set_termios()).
 */
static int ckpt_tty_set_termios(struct tty_struct *tty, const struct ktermios *kt)
{
	struct ktermios old;
	struct tty_ldisc *ld;

	if (down_write_killable(&tty->termios_rwsem))
		return -EINTR;
	old = tty->termios;
	tty->termios = *kt;
#ifdef ADDRB
	tty->termios.c_cflag ^= (tty->termios.c_cflag ^ old.c_cflag) & ADDRB;
#endif
	if (tty->ops->set_termios)
		tty->ops->set_termios(tty, &old);
	ld = tty_ldisc_ref(tty);
	if (ld) {
		if (ld->ops->set_termios)
			ld->ops->set_termios(tty, &old);
		tty_ldisc_deref(ld);
	}
	up_write(&tty->termios_rwsem);
	return 0;
}

static bool ckpt_tty_termios_equal(const struct ktermios *a, const struct ktermios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && a->c_line == b->c_line && a->c_ispeed == b->c_ispeed &&
	       a->c_ospeed == b->c_ospeed && !memcmp(a->c_cc, b->c_cc, NCCS);
}

static bool ckpt_tty_flip_pending(struct tty_port *port)
{
	struct tty_buffer *b;

	for (b = port->buf.head; b; b = smp_load_acquire(&b->next))
		if (READ_ONCE(b->used) != b->read)
			return true;
	return false;
}

/*
 * Nothing received, read, echoed or pending on this end, and hung up
 * exactly when hung_up says (restore's own hangup, then without n_tty).
 */
static bool ckpt_tty_end_is_fresh(const struct ckpt_tty_pair_ref *p, struct tty_struct *tty, bool hung_up)
{
	void *ld;

	if (test_bit(TTY_OTHER_CLOSED, &tty->flags) || test_bit(TTY_HUPPED, &tty->flags) != hung_up ||
	    ckpt_tty_ntty(p, tty, &ld) || ckpt_tty_flip_pending(tty->port))
		return false;
	if (!ld)
		return hung_up;
	return !(NTTY_SIZE_T(ld, READ_HEAD) || NTTY_SIZE_T(ld, READ_TAIL) || NTTY_SIZE_T(ld, CANON_HEAD) ||
		 NTTY_SIZE_T(ld, COMMIT_HEAD) || NTTY_SIZE_T(ld, ECHO_HEAD) || NTTY_SIZE_T(ld, ECHO_TAIL) ||
		 NTTY_SIZE_T(ld, LOOKAHEAD_COUNT) || NTTY_UINT(ld, COLUMN));
}

/*
 * For ONTO: the end may have been used, but holds nothing a reader has not
 * taken yet (input, typed partial line, echo, flip data), is open on both
 * sides, and hung up exactly when hung_up says (HANGUP's own hangup, after
 * which it has no line discipline).  With FORCE only the rest counts.
 */
static bool ckpt_tty_end_takes_onto(struct tty_struct *tty, bool force, bool hung_up)
{
	void *ld = tty->disc_data;

	if (test_bit(TTY_OTHER_CLOSED, &tty->flags) || test_bit(TTY_HUPPED, &tty->flags) != hung_up)
		return false;
	if (force)
		return true;
	if (hung_up)
		return !ckpt_tty_flip_pending(tty->port);
	return NTTY_SIZE_T(ld, READ_HEAD) == NTTY_SIZE_T(ld, READ_TAIL) &&
	       NTTY_SIZE_T(ld, ECHO_HEAD) == NTTY_SIZE_T(ld, ECHO_TAIL) && !ckpt_tty_flip_pending(tty->port);
}

/* hung_up: restore has hung up the ends the image says were (a new pair, or ONTO with HANGUP). */
static bool ckpt_tty_pair_takes(struct ckpt_tty_pair_ref *p, u32 flags, const struct ckpt_tty_pair_view *pair,
				bool hung_up)
{
	if (!(flags & CKPT_TTY_RESTORE_ONTO))
		return ckpt_tty_end_is_fresh(p, p->master, hung_up && (pair->master.e->flags & CKPT_TTY_END_HUPPED)) &&
		       ckpt_tty_end_is_fresh(p, p->slave, hung_up && (pair->slave.e->flags & CKPT_TTY_END_HUPPED));
	return ckpt_tty_end_takes_onto(p->master, flags & CKPT_TTY_RESTORE_FORCE,
				       hung_up && (pair->master.e->flags & CKPT_TTY_END_HUPPED)) &&
	       ckpt_tty_end_takes_onto(p->slave, flags & CKPT_TTY_RESTORE_FORCE,
				       hung_up && (pair->slave.e->flags & CKPT_TTY_END_HUPPED));
}

/*
 * Drop every byte pending in a port's flip buffers (as tty_buffer_flush()
 * does; it is not exported): FORCE discards the target's, and a failed load
 * its own.  Caller holds buf.lock, so no consumer runs; port->lock keeps
 * pty_write() out.  flush_to_ldisc() frees the emptied buffers next time.
 */
static void ckpt_tty_drop_flip(struct tty_port *port)
{
	struct tty_buffer *b;
	unsigned long irqflags;

	spin_lock_irqsave(&port->lock, irqflags);
	for (b = port->buf.head; b; b = smp_load_acquire(&b->next)) {
		smp_store_release(&b->commit, b->used);
		b->read = b->used;
		b->lookahead = b->read;
	}
	spin_unlock_irqrestore(&port->lock, irqflags);
}

/*
 * Flow control as the image says, through the tty layer so the driver and
 * waiting writers hear of it.  tco_stopped is cleared first: start_tty()
 * leaves a TCOOFF stop alone.  load_end() sets tco_stopped afterwards.
 */
static void ckpt_tty_set_flow(struct tty_struct *tty, const struct ckpt_tty_end *e)
{
	unsigned long irqflags;

	if (e->flags & CKPT_TTY_END_STOPPED) {
		stop_tty(tty);
		return;
	}
	spin_lock_irqsave(&tty->flow.lock, irqflags);
	tty->flow.tco_stopped = false;
	spin_unlock_irqrestore(&tty->flow.lock, irqflags);
	start_tty(tty);
}

/*
 * Put the saved flip bytes back; the port holds none (fresh, checked empty,
 * or dropped).  All under port->lock, so pty_write() inserts before or after
 * them, never between:
 * - the port's memory limit is lifted for this insert alone: the original
 *   held these bytes, possibly past it (see CKPT_TTY_FLIP_MAX);
 * - the last buffer's commit is published (tty_flip_buffer_push(), which
 *   also queues flush_to_ldisc(); that waits for our buf.lock) before the
 *   lookahead marks, so that lookahead never runs ahead of commit where
 *   lookahead_bufs() computes commit - lookahead;
 * - a short insert (no memory) drops what went in: nothing is installed.
 */
static int ckpt_tty_load_flip(struct tty_port *port, const struct ckpt_tty_end_view *v)
{
	const struct ckpt_tty_end *e = v->e;
	struct tty_buffer *b;
	unsigned long irqflags;
	u32 left;
	int limit;
	size_t n;

	if (!e->flip_count)
		return 0;
	spin_lock_irqsave(&port->lock, irqflags);
	limit = port->buf.mem_limit;
	WRITE_ONCE(port->buf.mem_limit, INT_MAX);
	n = tty_insert_flip_string_fixed_flag(port, v->flip_data, TTY_NORMAL, e->flip_count);
	WRITE_ONCE(port->buf.mem_limit, limit);
	if (n != e->flip_count) {
		spin_unlock_irqrestore(&port->lock, irqflags);
		ckpt_tty_drop_flip(port);
		return -ENOMEM;
	}
	tty_flip_buffer_push(port);
	/* Mark the bytes the original's lookahead had already seen: a prefix. */
	left = e->flip_lookahead;
	for (b = port->buf.head; b && left; b = b->next) {
		unsigned int count = min_t(unsigned int, b->commit - b->read, left);

		b->lookahead = b->read + count;
		left -= count;
	}
	spin_unlock_irqrestore(&port->lock, irqflags);
	return 0;
}

/*
 * len bytes into a ring from index from on; every other ring byte zero,
 * unless fresh (see ckpt_tty_load_end()).
 */
static void ckpt_tty_copy_to_ring(u8 *ring, u64 from, const u8 *in, u32 len, bool fresh)
{
	u64 pos = from & (CKPT_TTY_RING_SIZE - 1), first = min_t(u64, len, CKPT_TTY_RING_SIZE - pos);

	if (!fresh)
		memset(ring, 0, CKPT_TTY_RING_SIZE);
	memcpy(ring + pos, in, first);
	memcpy(ring, in + first, len - first);
}

/*
 * One end; all locks held and every field checked.  ld: the end's
 * n_tty_data, NULL for an end restore hung up (it has none).
 *
 * fresh: the end passed ckpt_tty_end_is_fresh() under these locks, every
 * index 0 (drivers/tty/n_tty.c, 6.1 and 6.12).  Its read_flags are then all
 * zero: n_tty_open() vzallocs them, reset_buffer_flags() (the only other way
 * back to read indices 0) zeroes them, and a bit is set only at read_head
 * just before read_head moves on (or behind it, with input queued).  Its
 * echo_buf is zero: echo_head moves on with every byte written there.  Its
 * read_buf is zero, or after a flush holds this terminal's old input, which
 * reset_buffer_flags() leaves as it is: n_tty reads only between read_tail
 * and read_head, and a checkpoint saves only those bytes.  So neither is
 * zeroed again (16 KiB of stores per pair); an end in use (ONTO) is.
 */
static void ckpt_tty_load_end(struct tty_struct *tty, void *ld, const struct ckpt_tty_end_view *v, bool fresh)
{
	const struct ckpt_tty_end *e = v->e;
	unsigned long *flags;
	unsigned long irqflags;
	u32 i;

	ckpt_tty_load_termios(&tty->termios_locked, &e->termios_locked);
	assign_bit(TTY_EXCLUSIVE, &tty->flags, e->flags & CKPT_TTY_END_EXCLUSIVE);
	assign_bit(TTY_PTY_LOCK, &tty->flags, e->flags & CKPT_TTY_END_PTY_LOCK);
	spin_lock_irqsave(&tty->flow.lock, irqflags);
	tty->flow.tco_stopped = !!(e->flags & CKPT_TTY_END_TCO_STOPPED);
	spin_unlock_irqrestore(&tty->flow.lock, irqflags);
	spin_lock_irqsave(&tty->ctrl.lock, irqflags);
	tty->ctrl.packet = !!(e->flags & CKPT_TTY_END_PACKET);
	tty->ctrl.pktstatus = e->pktstatus;
	spin_unlock_irqrestore(&tty->ctrl.lock, irqflags);
	if (!ld)
		return;

	NTTY_SIZE_T(ld, READ_HEAD) = e->read_head;
	NTTY_SIZE_T(ld, COMMIT_HEAD) = e->commit_head;
	NTTY_SIZE_T(ld, CANON_HEAD) = e->canon_head;
	NTTY_SIZE_T(ld, READ_TAIL) = e->read_tail;
	NTTY_SIZE_T(ld, LINE_START) = e->line_start;
	/*
	 * The flip bytes the lookahead has seen, as loaded, not the image's
	 * counter: n_tty lets that drift from the buffers (pty_flush_buffer()
	 * empties the peer's without resetting it; TIOCSTI takes one off), and
	 * a stale count makes __receive_buf() skip flow control on bytes nobody
	 * looked at.
	 */
	NTTY_SIZE_T(ld, LOOKAHEAD_COUNT) = e->flip_lookahead;
	NTTY_SIZE_T(ld, ECHO_HEAD) = e->echo_head;
	NTTY_SIZE_T(ld, ECHO_COMMIT) = e->echo_commit;
	NTTY_SIZE_T(ld, ECHO_MARK) = e->echo_mark;
	NTTY_SIZE_T(ld, ECHO_TAIL) = e->echo_tail;
	NTTY_UINT(ld, COLUMN) = e->column;
	NTTY_UINT(ld, CANON_COLUMN) = e->canon_column;
	ntty_set_bit(ld, CKPT_NTTY_LNEXT_BITOFF, e->ntty_flags & CKPT_TTY_NTTY_LNEXT);
	ntty_set_bit(ld, CKPT_NTTY_ERASING_BITOFF, e->ntty_flags & CKPT_TTY_NTTY_ERASING);
	ntty_set_bit(ld, CKPT_NTTY_PUSH_BITOFF, e->ntty_flags & CKPT_TTY_NTTY_PUSH);
	ckpt_tty_copy_to_ring(NTTY_BYTES(ld, READ_BUF), e->read_tail, v->input, v->input_len, fresh);
	ckpt_tty_copy_to_ring(NTTY_BYTES(ld, ECHO_BUF), e->echo_tail, v->echo, v->echo_len, fresh);
	flags = NTTY_BITMAP(ld, READ_FLAGS);
	if (!fresh)
		bitmap_zero(flags, N_TTY_BUF_SIZE);
	for (i = ckpt_tty_next_line_end(v, 0); i < v->input_len; i = ckpt_tty_next_line_end(v, i + 1))
		set_bit((e->read_tail + i) & (CKPT_TTY_RING_SIZE - 1), flags);
}

static void ckpt_tty_load_winsize(struct winsize *ws, const struct ckpt_tty_end *e)
{
	ws->ws_row = e->ws_row;
	ws->ws_col = e->ws_col;
	ws->ws_xpixel = e->ws_xpixel;
	ws->ws_ypixel = e->ws_ypixel;
}

/*
 * Between restore's two lockings: what goes through the tty layer's own
 * calls, which take the locks themselves.  The slave's termios go through
 * its hooks; ckpt_tty_check_pair() took only termios that pty_set_termios()
 * leaves as they are.
 */
static int ckpt_tty_apply_modes(struct ckpt_tty_pair_ref *p, const struct ckpt_tty_pair_view *pair,
				const struct ktermios *kt_slave, u32 flags)
{
	struct winsize ws;
	bool resized;
	int ret;

	ret = ckpt_tty_set_termios(p->slave, kt_slave);
	if (ret)
		return ret;
	ckpt_tty_set_flow(p->slave, pair->slave.e);
	ckpt_tty_set_flow(p->master, pair->master.e);

	if (mutex_lock_killable(&p->slave->winsize_mutex))
		return -EINTR;
	ckpt_tty_load_winsize(&ws, pair->slave.e);
	resized = memcmp(&p->slave->winsize, &ws, sizeof(ws)) != 0;
	ckpt_tty_load_winsize(&p->master->winsize, pair->master.e);
	ckpt_tty_load_winsize(&p->slave->winsize, pair->slave.e);
	mutex_unlock(&p->slave->winsize_mutex);
	if (resized && (flags & CKPT_TTY_RESTORE_ONTO)) {
		/* Programs on a terminal in use redraw on SIGWINCH, as after TIOCSWINSZ (tty_do_resize). */
		struct pid *pgrp = tty_get_pgrp(p->slave);

		if (pgrp)
			kill_pgrp(pgrp, SIGWINCH, 1);
		put_pid(pgrp);
	}
	return 0;
}

/* Install a checked record (ckpt_tty_check_pair()) into the pair fd belongs to. */
int ckpt_tty_restore_pair(int fd, const struct ckpt_tty_pair_view *pair, u32 flags)
{
	struct ckpt_tty_pair_ref p;
	struct ktermios kt_master, kt_slave;
	bool hangup;
	int ret;

	/* A terminal in use is hung up by a restore onto it only when the caller says so. */
	hangup = (pair->master.e->flags | pair->slave.e->flags) & CKPT_TTY_END_HUPPED;
	if (hangup && (flags & CKPT_TTY_RESTORE_ONTO) && !(flags & CKPT_TTY_RESTORE_HANGUP))
		return -EINVAL;
	ret = ckpt_tty_get_pair(fd, &p);
	if (ret)
		return ret;

	/*
	 * A master's termios never change (mode ioctls on a master act on its
	 * slave, and tty_set_termios() warns on a master): they must already be
	 * what the image says.  Check that and freshness before any change.
	 */
	ckpt_tty_load_termios(&kt_master, &pair->master.e->termios);
	ckpt_tty_load_termios(&kt_slave, &pair->slave.e->termios);
	p.op = CKPT_TTY_TRACE_OP_RESTORE_CHECK;
	ret = ckpt_tty_lock_pair(&p);
	if (ret)
		goto out_put;
	if (!ckpt_tty_pair_takes(&p, flags, pair, false))
		ret = -EBUSY;
	else if (!ckpt_tty_termios_equal(&p.master->termios, &kt_master))
		ret = -EINVAL;
	ckpt_tty_unlock_pair(&p);
	if (ret)
		goto out_put;

	/*
	 * Hung-up ends: hang the new end up first, as TIOCVHANGUP would (its
	 * line discipline goes, its files become hung_up_tty_fops, and the
	 * peer's pending flip data is flushed by pty_flush_buffer()), then load
	 * what the image says, the termios and flip data a hung-up end keeps.
	 */
	if (pair->slave.e->flags & CKPT_TTY_END_HUPPED)
		tty_vhangup(p.slave);
	if (pair->master.e->flags & CKPT_TTY_END_HUPPED)
		tty_vhangup(p.master);

	ret = ckpt_tty_apply_modes(&p, pair, &kt_slave, flags);
	p.op = CKPT_TTY_TRACE_OP_RESTORE;
	if (!ret)
		ret = ckpt_tty_lock_pair(&p);
	if (ret)
		goto out_put;
	/*
	 * Nobody may have touched the pair between the two lockings.  A new
	 * pair is pyctl's own until restore returns; a pair in use (ONTO) is
	 * not, and a user typing or a program changing modes in between gives
	 * EBUSY.  Either way the termios, flow and winsize set above stay (the
	 * target's locked termios are put back); pyctl discards a new pair, and
	 * says so for a pair in use.
	 */
	if (!ckpt_tty_pair_takes(&p, flags, pair, hangup) ||
	    !ckpt_tty_termios_equal(&p.master->termios, &kt_master) ||
	    !ckpt_tty_termios_equal(&p.slave->termios, &kt_slave))
		ret = -EBUSY;
	if (!ret && (flags & CKPT_TTY_RESTORE_FORCE)) {
		ckpt_tty_drop_flip(p.master->port);
		ckpt_tty_drop_flip(p.slave->port);
	}
	/* Flip data first: the one step that can fail (no memory) undoes itself. */
	if (!ret)
		ret = ckpt_tty_load_flip(p.master->port, &pair->master);
	if (!ret) {
		ret = ckpt_tty_load_flip(p.slave->port, &pair->slave);
		if (ret)
			ckpt_tty_drop_flip(p.master->port);
	}
	if (!ret) {
		bool fresh = !(flags & CKPT_TTY_RESTORE_ONTO);

		ckpt_tty_load_end(p.master, p.ld_master ? p.master->disc_data : NULL, &pair->master, fresh);
		ckpt_tty_load_end(p.slave, p.ld_slave ? p.slave->disc_data : NULL, &pair->slave, fresh);
	}
	ckpt_tty_unlock_pair(&p);

	if (!ret) {
		/* Wake everyone up; the flip data is queued for the ldiscs already. */
		wake_up_interruptible_all(&p.master->read_wait);
		wake_up_interruptible_all(&p.master->write_wait);
		wake_up_interruptible_all(&p.slave->read_wait);
		wake_up_interruptible_all(&p.slave->write_wait);
	}
out_put:
	ckpt_tty_put_pair(&p);
	return ret;
}
