// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt_tty: what restore accepts.
 *
 * Restore installs a state only if N_TTY could be in it itself: every rule
 * below is an invariant that drivers/tty/n_tty.c, pty.c and tty_ioctl.c of
 * 6.1 and 6.12 keep, and the loops of the tty layer rely on (a value outside
 * it can make one run for 2^40 steps while every access stays inside the
 * rings).  kmod/INVARIANTS.md gives, for each field, the invariant, the
 * functions that rely on it and the rule here that checks it.
 *
 * Everything here looks at a parsed record only (ckpt_tty_parse_record()
 * found its parts and checked their sizes), before any lock is taken:
 * nothing changes unless the whole pair passes.  Ring contents come as the
 * bytes from the tail on, so positions below are relative to a tail.
 */

#include <linux/string.h>
#include <linux/tty.h>
#include <linux/tty_flip.h>

#include "ckpt_tty.h"

/* TIOCPKT_* bits that ctrl.pktstatus can hold (include/uapi/asm-generic/ioctls.h) */
#define CKPT_TTY_PKTSTATUS_MASK 0x7f

/*
 * Ring positions are free-running size_t counters that start at 0 when the
 * line discipline opens and grow by one per byte; n_tty compares some of
 * them with plain < and > (__process_echoes' discard loop), so they must not
 * wrap: all are at most CKPT_TTY_INDEX_MAX.
 */
#define RING CKPT_TTY_RING_SIZE

/* Is bit i of a little-endian bitmap set? */
static bool bit(const u8 *bytes, u64 i)
{
	return (bytes[i / 8] >> (i % 8)) & 1;
}

/* Is a within [lo, hi], all as plain (non-wrapping) numbers? */
static bool between(u64 lo, u64 a, u64 hi)
{
	return lo <= a && a <= hi;
}

/*
 * The read side.  n_tty keeps read_tail <= read_head <= read_tail + RING.
 * Which of canon_head and commit_head is live depends on the mode
 * (__receive_buf publishes commit_head unless ICANON without EXTPROC; the
 * reader uses canon_head only then; chars_in_buffer() and the overflow test
 * use canon_head whenever ICANON is set).  n_tty_set_termios() resets both
 * when ICANON or EXTPROC change, so the rules follow the saved termios.
 */
static int check_read_side(const struct ckpt_tty_end_view *v)
{
	const struct ckpt_tty_end *e = v->e;
	u64 tail = e->read_tail, head = e->read_head, canon = e->canon_head, commit = e->commit_head;
	bool icanon = e->termios.c_lflag & ICANON, extproc = e->termios.c_lflag & EXTPROC;

	/* parse_end() bounded head - tail by RING; a head past INDEX_MAX would wrap */
	if (head > CKPT_TTY_INDEX_MAX || head < tail)
		return -EINVAL;
	if (icanon && !extproc) {
		/* canonical: lines end below canon_head; commit_head stopped where ICANON began */
		if (!between(tail, canon, head) || commit > canon)
			return -EINVAL;
		/* canon_head moves only past a line end (or the EOF push of n_tty_set_termios) */
		if (canon != tail && !bit(v->line_ends, canon - tail - 1))
			return -EINVAL;
	} else {
		/* __receive_buf() publishes commit_head = read_head after every receive */
		if (commit != head)
			return -EINVAL;
		/*
		 * canon_head stays where the mode began, at or before read_head;
		 * without ICANON at or before read_tail.  With ICANON|EXTPROC the
		 * (non-canonical) reader may pass it: chars_in_buffer() is then
		 * negative, which only means "room".
		 */
		if (canon > (icanon ? head : tail))
			return -EINVAL;
	}
	/* only ever written (canon_copy_from_read_buf, n_tty_set_termios): a past read_tail */
	if (e->line_start > tail)
		return -EINVAL;
	/* Line ends: none without ICANON; canonical: only below canon_head. */
	if (!icanon && ckpt_tty_next_line_end(v, 0) < v->input_len)
		return -EINVAL;
	if (icanon && !extproc && ckpt_tty_next_line_end(v, canon - tail) < v->input_len)
		return -EINVAL;
	/*
	 * lnext and erasing are set by canonical input processing only (EXTPROC
	 * bypasses it), push by a switch into ICANON with unread input; the
	 * mode switch clears all three.
	 */
	if ((!icanon || extproc) && (e->ntty_flags & (CKPT_TTY_NTTY_LNEXT | CKPT_TTY_NTTY_ERASING)))
		return -EINVAL;
	if (!icanon && (e->ntty_flags & CKPT_TTY_NTTY_PUSH))
		return -EINVAL;
	return 0;
}

/* Bytes of the echo op starting at echo[i]: ECHO_OP_START with its op, or one byte. */
static unsigned int echo_op_size(const u8 *echo, u32 len, u32 i)
{
	if (echo[i] != CKPT_TTY_ECHO_OP_START)
		return 1;
	return i + 1 < len && echo[i + 1] == CKPT_TTY_ECHO_OP_ERASE_TAB ? 3 : 2;
}

/*
 * The echo ring.  n_tty keeps echo_tail <= echo_commit <= echo_head,
 * head - tail <= RING, and whole ops between them: ops are added whole under
 * termios_rwsem (read), and __process_echoes() advances echo_tail op by op.
 * It walks from echo_tail to echo_commit with masked positions (at most RING
 * steps, never past a boundary), then discards with plain comparisons while
 * echo_commit - tail is large: an echo_commit far away would loop that long
 * with output_lock held.  echo_mark == echo_head: commit_echoes() sets it
 * after every echo, and process_echoes() copies it into echo_commit, so any
 * other value is either that loop or, behind echo_tail, a walk around the
 * whole ring.  (Stock n_tty leaves it one behind after an LNEXT that ends an
 * ECHOPRT erase without ECHOCTL; pyctl.reachable.settle() restores that state
 * with echo_mark = echo_head, see tests/vm/test_echo_mark.py.)
 */
static int check_echo_side(const struct ckpt_tty_end_view *v)
{
	const struct ckpt_tty_end *e = v->e;
	u64 tail = e->echo_tail, head = e->echo_head;
	bool commit_seen = false;
	u32 i;

	if (head > CKPT_TTY_INDEX_MAX || head < tail || !between(tail, e->echo_commit, head) ||
	    e->echo_mark != head)
		return -EINVAL;
	for (i = 0; i < v->echo_len; i += echo_op_size(v->echo, v->echo_len, i))
		commit_seen |= tail + i == e->echo_commit;
	if (i != v->echo_len)	/* an op cut off by echo_head */
		return -EINVAL;
	commit_seen |= head == e->echo_commit;
	if (!commit_seen)	/* inside an op */
		return -EINVAL;
	return 0;
}

/*
 * Flip buffers.  A pty inserts plain bytes only (pty_write: TTY_NORMAL, no
 * flag area), so pending data never carries flags; at most
 * CKPT_TTY_FLIP_RESTORE_MAX, so that writers after the restore cannot take
 * the pair past what checkpoint saves.  lookahead_count is not
 * checked: restore does not install it (see ckpt_tty_load_end()).
 */
static int check_flip(const struct ckpt_tty_end *e)
{
	/* what writers can add after a restore to the last buffer (tty_buffer.c: TTY_BUFFER_PAGE) */
	BUILD_BUG_ON(CKPT_TTY_FLIP_RESTORE_MAX + PAGE_SIZE > CKPT_TTY_FLIP_MAX);

	if (e->flip_count > CKPT_TTY_FLIP_RESTORE_MAX || e->flip_lookahead > e->flip_count || e->flip_flagged)
		return -EINVAL;
	return 0;
}

/*
 * A master keeps the termios pty.c gave it (mode ioctls on a master act on
 * its slave): raw, no OPOST, no ECHO.  So nothing is ever echoed on it, no
 * column counted, and its locked termios stay zero (TIOCSLCKTRMIOS on a
 * master fd locks the slave's).
 */
static int check_master_only(const struct ckpt_tty_end *e)
{
	if (e->echo_head || e->echo_commit || e->echo_mark || e->echo_tail || e->column || e->canon_column)
		return -EINVAL;
	if (memchr_inv(&e->termios_locked, 0, sizeof(e->termios_locked)))
		return -EINVAL;
	return 0;
}

/*
 * A hung-up pty end has no line discipline: tty_ldisc_hangup() kills it
 * (reinit only for a console-redirect file), and only a new open brings
 * one back, clearing TTY_HUPPED.  So no n_tty state: every index, column
 * and flag 0, no input or echo.  Flip data may wait (pty_write() still
 * queues it; flush_to_ldisc() finds no ldisc).  Termios are anything: a
 * master's mode ioctls still reach its slave.
 */
static int check_hung_up(const struct ckpt_tty_end *e)
{
	if (e->read_head || e->commit_head || e->canon_head || e->read_tail || e->line_start ||
	    e->lookahead_count || e->echo_head || e->echo_commit || e->echo_mark || e->echo_tail ||
	    e->column || e->canon_column || e->ntty_flags)
		return -EINVAL;
	return 0;
}

static int check_end(const struct ckpt_tty_end_view *v, bool master)
{
	const struct ckpt_tty_end *e = v->e;
	u32 allowed = CKPT_TTY_END_FLAGS_RESTORABLE;
	bool hung_up = e->flags & CKPT_TTY_END_HUPPED;
	int ret;

	if (!master)	/* TIOCSPTLCK and TIOCPKT act on the master only */
		allowed &= ~(CKPT_TTY_END_PTY_LOCK | CKPT_TTY_END_PACKET);
	if (e->flags & ~allowed)
		return -EINVAL;
	/* TCOOFF stops output; start_tty() leaves tco_stopped alone, stop_tty() sets stopped */
	if ((e->flags & CKPT_TTY_END_TCO_STOPPED) && !(e->flags & CKPT_TTY_END_STOPPED))
		return -EINVAL;
	if (e->ldisc != N_TTY || e->termios.c_line != N_TTY)
		return -EINVAL;
	/* n_tty_set_termios() derives icanon from ICANON; the ring rules use it */
	if (!hung_up && !!(e->ntty_flags & CKPT_TTY_NTTY_ICANON) != !!(e->termios.c_lflag & ICANON))
		return -EINVAL;
	if (memchr_inv(e->termios.pad, 0, sizeof(e->termios.pad)) ||
	    memchr_inv(e->termios_locked.pad, 0, sizeof(e->termios_locked.pad)) ||
	    memchr_inv(e->reserved, 0, sizeof(e->reserved)))
		return -EINVAL;
	if (e->pktstatus & ~CKPT_TTY_PKTSTATUS_MASK)
		return -EINVAL;
	if (e->ntty_flags & ~(CKPT_TTY_NTTY_RESTORABLE | CKPT_TTY_NTTY_ICANON | CKPT_TTY_NTTY_RAW |
			      CKPT_TTY_NTTY_REAL_RAW | CKPT_TTY_NTTY_NO_ROOM))
		return -EINVAL;
	ret = hung_up ? check_hung_up(e) : check_read_side(v);
	if (!ret && master)
		ret = check_master_only(e);
	if (!ret)
		ret = check_echo_side(v);
	if (!ret)
		ret = check_flip(e);
	return ret;
}

/*
 * Rules between the two ends:
 * - the slave's termios went through tty_set_termios(), where pty_set_termios()
 *   forces CS8|CREAD and clears PARENB, and ADDRB is never changed: restore
 *   puts them through the same call, so anything else could not stay as the
 *   image says (and ONTO would stop half-way, after termios were applied);
 * - packet-mode status is raised on the slave end for a master in packet
 *   mode; the master's own stays 0 (its peer, the slave, cannot be in
 *   packet mode).
 */
int ckpt_tty_check_pair(const struct ckpt_tty_pair_view *v)
{
	const struct ckpt_tty_end *m = v->master.e, *s = v->slave.e;
	u32 cflag = s->termios.c_cflag;
	int ret;

	ret = check_end(&v->master, true);
	if (!ret)
		ret = check_end(&v->slave, false);
	if (ret)
		return ret;
	if ((cflag & CSIZE) != CS8 || !(cflag & CREAD) || (cflag & PARENB))
		return -EINVAL;
#ifdef ADDRB
	if (cflag & ADDRB)
		return -EINVAL;
#endif
	if (m->pktstatus)
		return -EINVAL;
	return 0;
}
