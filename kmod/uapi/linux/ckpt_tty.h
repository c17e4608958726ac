/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ckpt_tty: checkpoint and restore of live Linux terminals.
 *
 * ABI of the misc device /dev/ckpt_tty.
 *
 * The device is root-only (mode 0600) and open() additionally requires
 * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the initial user namespace;
 * other callers get EPERM.  Unknown ioctls fail with ENOTTY.
 *
 * Handshake: CKPT_TTY_IOC_GET_INFO fills struct ckpt_tty_info with the ABI
 * version, the feature bits and every kernel constant a checkpoint image
 * depends on.  Userspace must check abi_version and info_size before it
 * trusts anything else in the structure.
 *
 * The same structure, filled at build time, is stored in the ELF section
 * CKPT_TTY_INFO_SECTION of ckpt_tty.ko, so tools can read it without loading
 * the module.  There kernel_release names the kernel the module was built
 * for; from the ioctl it names the running kernel.
 *
 * Growth: fields are only ever added in place of reserved ones (which the
 * module zeroes) or in a new structure behind a new ioctl number; the ABI
 * version changes when the meaning or size of an existing field changes
 * (ABI 2: CKPT_TTY_FLIP_MAX; ABI 3: sized records holding only the bytes a
 * pair holds, checkpoint and restore of many pairs per call).
 *
 * This header is the single source of these constants: pyctl/_uapi.py is
 * generated from it by scripts/gen_uapi_py.py.  Keep to the subset of C that
 * generator understands: integer #defines, structures of __u8/__u16/__u32/
 * __u64 fields and arrays of them, and _IO/_IOR/_IOW/_IOWR numbers.
 */
#ifndef _UAPI_LINUX_CKPT_TTY_H
#define _UAPI_LINUX_CKPT_TTY_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CKPT_TTY_ABI_VERSION		3

/* struct ckpt_tty_info.magic: "CKTI" in little-endian byte order */
#define CKPT_TTY_INFO_MAGIC		0x49544b43
#define CKPT_TTY_INFO_SECTION		".ckpt_tty_info"

/* Room for utsname()->release (__NEW_UTS_LEN + 1 = 65), rounded up. */
#define CKPT_TTY_RELEASE_LEN		72

/* struct ckpt_tty_info.byte_order */
#define CKPT_TTY_LITTLE_ENDIAN		1
#define CKPT_TTY_BIG_ENDIAN		2

/* struct ckpt_tty_info.features */
#define CKPT_TTY_FEATURE_GET_INFO	(1ULL << 0)
#define CKPT_TTY_FEATURE_CHECKPOINT	(1ULL << 1)
#define CKPT_TTY_FEATURE_RESTORE	(1ULL << 2)
#define CKPT_TTY_FEATURE_RESTORE_ONTO	(1ULL << 3)	/* CKPT_TTY_RESTORE_ONTO and _FORCE */
#define CKPT_TTY_FEATURE_RECORDS	(1ULL << 4)	/* ABI 3 records, many pairs per call */
#define CKPT_TTY_FEATURE_DEVPTS_DEV	(1ULL << 5)	/* checkpoint fills ckpt_tty_record.devpts_dev */
#define CKPT_TTY_FEATURE_HUNG_UP	(1ULL << 6)	/* hung-up ends: checkpointed, and restored hung up */
#define CKPT_TTY_FEATURE_ONTO_HANGUP	(1ULL << 7)	/* CKPT_TTY_RESTORE_HANGUP */

struct ckpt_tty_info {
	__u32 magic;		/* CKPT_TTY_INFO_MAGIC */
	__u32 abi_version;	/* CKPT_TTY_ABI_VERSION of the module */
	__u32 info_size;	/* sizeof(struct ckpt_tty_info) in the module */
	__u32 byte_order;	/* CKPT_TTY_LITTLE_ENDIAN or _BIG_ENDIAN */
	__u64 features;		/* CKPT_TTY_FEATURE_* bits */
	__u32 n_tty_buf_size;	/* N_TTY_BUF_SIZE, include/linux/tty.h */
	__u32 nccs;		/* NCCS: c_cc slots of struct ktermios */
	__u32 ncc;		/* NCC: c_cc slots of the old struct termio */
	__u32 bits_per_long;	/* BITS_PER_LONG: read_flags is a long bitmap */
	__u32 ktermios_size;	/* sizeof(struct ktermios) */
	__u32 n_tty_data_size;	/* sizeof(struct n_tty_data), from BTF */
	__u64 n_tty_data_fingerprint;	/* hash of the n_tty_data layout */
	__u8 kernel_release[CKPT_TTY_RELEASE_LEN];	/* NUL-terminated */
	__u64 reserved[8];	/* zero */
};

/*
 * Checkpoint and restore of UNIX98 pty pairs.
 *
 * CKPT_TTY_IOC_CHECKPOINT takes a list of fds, each of either end of a pair,
 * and writes one record per fd into the caller's buffer: the state of both
 * ends, each taken in one consistent snapshot under the locks the tty layer
 * itself uses.  It changes nothing and stops nobody: readers and writers go
 * on as soon as that pair's snapshot is taken.  The record is written into
 * the buffer during the snapshot, with page faults disabled; a page of the
 * buffer that is not there is faulted in after the pair is unlocked and the
 * snapshot taken again (a buffer that cannot be written: EFAULT, its bytes
 * undefined).
 *
 * CKPT_TTY_IOC_RESTORE takes a list of (fd, record) items.  Each fd is a
 * fresh pair (just opened, nothing read, written or changed) or, with
 * CKPT_TTY_RESTORE_ONTO, a pair in use; every record is checked before any
 * pair is touched, and each pair's state is installed only whole.
 *
 * A record holds only what the pair holds: a fixed header per end and, after
 * it, the bytes still to be read, echoed or received (struct ckpt_tty_end).
 * Ring positions are the kernel's own: the image format (images/FORMAT.md)
 * is what is independent of the kernel.
 *
 * Errors, per fd in a record's or item's error field, or of the whole call
 * (besides EFAULT, EINVAL for bad arguments or state, EPERM):
 *   EBADF       fd is not open
 *   ENOTTY      fd is not a terminal
 *   EOPNOTSUPP  a terminal, but not a UNIX98 pty, or its line discipline is
 *               not N_TTY
 *   EIO         the terminal was hung up
 *   EBUSY       the pair is changing line discipline or hanging up: retry;
 *               for restore, also: the target pair is not fresh
 *   EOVERFLOW   more pending flip-buffer data than CKPT_TTY_FLIP_MAX (a stock
 *               pty holds about 20 KB at most)
 *   ENOSPC      checkpoint: the first record does not fit the buffer
 *               (buf_used says how many bytes it needs)
 */
#define CKPT_TTY_NCCS			19	/* NCCS of the kernels we support */
#define CKPT_TTY_RING_SIZE		4096	/* N_TTY_BUF_SIZE */
#define CKPT_TTY_RING_FLAG_BYTES	512	/* CKPT_TTY_RING_SIZE / 8 */
/*
 * Flip data per end.  A pty's 8192-byte limit (pty.c) counts buffer memory:
 * a buffer without flags holds two bytes per byte counted, the allocation
 * that crosses the limit still succeeds, and buffers of up to 256 bytes come
 * back from the free list unchecked (tty_buffer.c: tty_buffer_alloc).  A raw
 * writer leaves about 20 KB pending; ABI 1's 16384 was too small for that.
 * Beyond this, checkpoint fails with EOVERFLOW.
 */
#define CKPT_TTY_FLIP_MAX		65536
/*
 * Restore loads at most this much flip data per end.  It loads past the
 * pty's limit (the original got there through buffers since freed), so no
 * new buffer is allocated after it until the line discipline has taken
 * enough, but a writer still fills the free room of the last buffer: at
 * most two halves of TTY_BUFFER_PAGE, less than a page.  A page below
 * CKPT_TTY_FLIP_MAX, a restored pair can always be checkpointed again
 * (the module's build checks PAGE_SIZE against this).
 */
#define CKPT_TTY_FLIP_RESTORE_MAX	61440	/* CKPT_TTY_FLIP_MAX - 4096 */

/*
 * Restore takes ring positions (read_*, canon_head, commit_head, line_start,
 * echo_*) up to this value only: they count bytes from 0 and never wrap in a
 * real terminal (2^62 bytes is 146 years at 1 GB/s), and n_tty compares some
 * of them as plain numbers.
 */
#define CKPT_TTY_INDEX_MAX		(1ULL << 62)

/*
 * echo_buf holds N_TTY's echo ops (drivers/tty/n_tty.c): a byte to echo, or
 * ECHO_OP_START followed by an op byte, and for ECHO_OP_ERASE_TAB one more
 * (the column count).  Restore requires whole ops between echo_tail and
 * echo_head, with echo_commit and echo_mark on op boundaries.
 */
#define CKPT_TTY_ECHO_OP_START		0xff
#define CKPT_TTY_ECHO_OP_ERASE_TAB	0x82

/* struct ktermios, field for field (include/linux/termios_internal.h) */
struct ckpt_tty_termios {
	__u32 c_iflag;
	__u32 c_oflag;
	__u32 c_cflag;
	__u32 c_lflag;
	__u32 c_ispeed;
	__u32 c_ospeed;
	__u8 c_line;
	__u8 c_cc[CKPT_TTY_NCCS];
	__u8 pad[4];
};

/* struct ckpt_tty_end.flags: tty->flags bits, flow and packet state */
#define CKPT_TTY_END_EXCLUSIVE		(1U << 0)	/* TTY_EXCLUSIVE (TIOCEXCL) */
#define CKPT_TTY_END_PTY_LOCK		(1U << 1)	/* TTY_PTY_LOCK (master) */
#define CKPT_TTY_END_OTHER_CLOSED	(1U << 2)	/* TTY_OTHER_CLOSED */
#define CKPT_TTY_END_HUPPED		(1U << 3)	/* TTY_HUPPED: hung up, no line discipline */
#define CKPT_TTY_END_STOPPED		(1U << 4)	/* flow.stopped */
#define CKPT_TTY_END_TCO_STOPPED	(1U << 5)	/* flow.tco_stopped (TCOOFF) */
#define CKPT_TTY_END_PACKET		(1U << 6)	/* ctrl.packet (TIOCPKT) */
/*
 * All but OTHER_CLOSED: closing the other end is what sets it, and pyctl does
 * that after the restore.  HUPPED: restore hangs the new end up (its line
 * discipline goes, as in tty_ldisc_hangup()) before loading the rest; such an
 * end holds no n_tty state (every ring index, column and ntty flag 0).
 */
#define CKPT_TTY_END_FLAGS_RESTORABLE	0x7b

/* struct ckpt_tty_end.ntty_flags: the n_tty_data bitfields */
#define CKPT_TTY_NTTY_LNEXT		(1U << 0)
#define CKPT_TTY_NTTY_ERASING		(1U << 1)
#define CKPT_TTY_NTTY_PUSH		(1U << 2)
#define CKPT_TTY_NTTY_ICANON		(1U << 3)	/* derived from termios */
#define CKPT_TTY_NTTY_RAW		(1U << 4)	/* derived from termios */
#define CKPT_TTY_NTTY_REAL_RAW		(1U << 5)	/* derived from termios */
#define CKPT_TTY_NTTY_NO_ROOM		(1U << 6)	/* derived from the ring */
#define CKPT_TTY_NTTY_RESTORABLE	0x07	/* LNEXT, ERASING, PUSH */

/*
 * One end of a pty pair: struct tty_struct and its N_TTY struct n_tty_data.
 * The header below is followed by the end's data, each part starting on an
 * 8-byte boundary (zero padding), in this order:
 *
 *   input      read_head - read_tail bytes of read_buf, from read_tail on
 *   line ends  (input + 7) / 8 bytes: bit i of byte j is read_flags' bit for
 *              ring position read_tail + 8 * j + i (a line end); bits past
 *              the input are zero
 *   echo       echo_head - echo_tail bytes of echo_buf, from echo_tail on
 *   flip data  flip_count bytes
 *   flip flags flip_count bytes when flip_flagged, else none
 *
 * data_size is the sum, padding included.  Nothing else of the rings leaves
 * the kernel: consumed input stays in it (a password read in raw mode), and
 * restore fills every other ring byte with zero.
 */
struct ckpt_tty_end {
	struct ckpt_tty_termios termios;
	struct ckpt_tty_termios termios_locked;
	__u16 ws_row;
	__u16 ws_col;
	__u16 ws_xpixel;
	__u16 ws_ypixel;
	__u32 flags;		/* CKPT_TTY_END_* */
	__u32 ldisc;		/* line discipline number; only N_TTY (0) */
	__u32 pktstatus;	/* ctrl.pktstatus: TIOCPKT_* pending for the peer */
	__u32 ntty_flags;	/* CKPT_TTY_NTTY_* */
	__u32 column;
	__u32 canon_column;
	/* Bytes in this end's flip buffers that its ldisc has not taken yet. */
	__u32 flip_count;
	__u32 flip_lookahead;	/* leading bytes the ldisc's lookahead has seen */
	__u32 flip_flagged;	/* 1: flip flags follow, a TTY_* flag per byte */
	__u32 data_size;	/* bytes of data after this header */
	/* N_TTY: free-running ring indices; position = index % RING_SIZE */
	__u64 read_head;
	__u64 commit_head;
	__u64 canon_head;
	__u64 read_tail;
	__u64 line_start;
	__u64 lookahead_count;
	__u64 echo_head;
	__u64 echo_commit;
	__u64 echo_mark;
	__u64 echo_tail;
	__u64 reserved[4];	/* zero */
};

/*
 * A pair: this header, then the master's struct ckpt_tty_end and its data,
 * then the slave's.  size counts all of it and is a multiple of 8; the
 * next record starts there.  A checkpoint that failed for this fd has error
 * set (a negative errno) and size = sizeof(struct ckpt_tty_record).
 */
struct ckpt_tty_record {
	__u32 size;
	__s32 error;		/* 0 or -errno */
	__s32 fd;		/* the fd it was taken from */
	__u32 index;		/* pty index, the N of /dev/pts/N */
	/*
	 * Checkpoint: the devpts instance the pair is in, as st_dev of its
	 * /dev/pts/N (the kernel's new_encode_dev(), what stat() reports);
	 * 0 if unknown.  Restore ignores it: the target fd picks the instance.
	 */
	__u32 devpts_dev;
	__u32 reserved0;	/* zero */
	__u64 reserved[1];	/* zero */
};

/*
 * Largest record: every part of both ends at its largest,
 * 32 + 2 * (256 + 4096 + 512 + 4096 + 2 * 65536).
 */
#define CKPT_TTY_RECORD_MAX		280096

/* Argument of CKPT_TTY_IOC_CHECKPOINT */
struct ckpt_tty_checkpoint_arg {
	__u64 fds;		/* user pointer to __s32[count] */
	__u32 count;		/* 1 to CKPT_TTY_BATCH_MAX */
	__u32 flags;		/* zero */
	__u64 buf;		/* user pointer: the records are written here */
	__u64 buf_size;
	__u64 buf_used;		/* out: bytes of records written (ENOSPC: needed) */
	__u32 done;		/* out: records written, one per fd from the first on */
	__u32 reserved0;	/* zero */
	__u64 reserved[2];	/* zero */
};

/* Fds per call: a devpts instance holds at most this many ptys by default. */
#define CKPT_TTY_BATCH_MAX		4096

/* One pair of CKPT_TTY_IOC_RESTORE */
struct ckpt_tty_restore_item {
	__s32 fd;		/* either end of the target pair */
	__s32 error;		/* out: 0 or -errno */
	__u64 offset;		/* of its record in buf */
};

/* Argument of CKPT_TTY_IOC_RESTORE */
struct ckpt_tty_restore_arg {
	__u64 items;		/* user pointer to struct ckpt_tty_restore_item[count] */
	__u32 count;		/* 1 to CKPT_TTY_BATCH_MAX */
	__u32 flags;		/* CKPT_TTY_RESTORE_*, for every item */
	__u64 buf;		/* user pointer to the records */
	__u64 buf_size;
	__u32 done;		/* out: items restored */
	__u32 reserved0;	/* zero */
	__u64 reserved[2];	/* zero */
};

/*
 * Restore flags.  Without ONTO the target must be a pair nobody has used.
 * ONTO replaces the state of a pair in use (the terminal a restored process
 * inherits); it refuses with EBUSY while the target holds unread input,
 * unread output, pending echo or flip data, unless FORCE discards them.
 * ONTO refuses (EINVAL) a record with a hung-up end, as hanging up a
 * terminal in use ends its readers' and writers' use of it, unless HANGUP
 * says the caller wants that: the target is one nobody runs on yet (CRIU's
 * post-restore stage, whose tasks held the hung-up end at dump time).
 */
#define CKPT_TTY_RESTORE_ONTO		(1U << 0)
#define CKPT_TTY_RESTORE_FORCE		(1U << 1)
#define CKPT_TTY_RESTORE_HANGUP		(1U << 2)	/* with ONTO only */
#define CKPT_TTY_RESTORE_FLAGS		0x7

/*
 * Tracepoints ckpt_tty:ckpt_tty_locked and ckpt_tty:ckpt_tty_unlocked
 * (kmod/ckpt_tty_trace.h) bracket the time a pair is frozen; their op field
 * says for what.  A restore freezes the pair twice: to check that it may
 * take the image, and to install it.
 */
#define CKPT_TTY_TRACE_OP_CHECKPOINT	0
#define CKPT_TTY_TRACE_OP_RESTORE_CHECK	1
#define CKPT_TTY_TRACE_OP_RESTORE	2

/* 0xC7 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define CKPT_TTY_IOC_TYPE		0xC7

#define CKPT_TTY_IOC_GET_INFO		_IOR(CKPT_TTY_IOC_TYPE, 0x00, struct ckpt_tty_info)
/* 0x01 and 0x02 were ABI 2's single-pair calls: ENOTTY now */
#define CKPT_TTY_IOC_CHECKPOINT		_IOWR(CKPT_TTY_IOC_TYPE, 0x03, struct ckpt_tty_checkpoint_arg)
#define CKPT_TTY_IOC_RESTORE		_IOWR(CKPT_TTY_IOC_TYPE, 0x04, struct ckpt_tty_restore_arg)

#endif /* _UAPI_LINUX_CKPT_TTY_H */
