/* SPDX-License-Identifier: GPL-2.0 */
/* ckpt_tty: declarations shared between the module's files. */
#ifndef CKPT_TTY_H
#define CKPT_TTY_H

#include <linux/bitops.h>
#include <linux/ckpt_tty.h>
#include <linux/types.h>

/* One end of a record, parsed: its header and where each part of its data is. */
struct ckpt_tty_end_view {
	const struct ckpt_tty_end *e;
	u32 input_len;		/* read_head - read_tail */
	u32 echo_len;		/* echo_head - echo_tail */
	const u8 *input;	/* input_len bytes */
	const u8 *line_ends;	/* (input_len + 7) / 8 bytes, bit i: input[i] ends a line */
	const u8 *echo;		/* echo_len bytes */
	const u8 *flip_data;	/* flip_count bytes */
	const u8 *flip_flags;	/* flip_count bytes, or NULL */
};

/*
 * The first line end at or after bit from of a view's line_ends (input_len
 * bits), or input_len if none.  The part is a little-endian bitmap, 8-byte
 * aligned and padded to 8 bytes: whole longs, a word at a time.
 */
static inline u32 ckpt_tty_next_line_end(const struct ckpt_tty_end_view *v, u32 from)
{
	return find_next_bit_le(v->line_ends, v->input_len, from);
}

struct ckpt_tty_pair_view {
	const struct ckpt_tty_record *r;
	struct ckpt_tty_end_view master, slave;
};

/*
 * A kernel buffer: a record restore reads, or checkpoint's scratch (its
 * records go straight to the caller).  One serves every pair of a call, and
 * an open device keeps a small one for its next call: Debian's kernels zero
 * every allocation (init_on_alloc), which for a record cost more than
 * taking its snapshot.
 */
struct ckpt_tty_buf {
	size_t room;		/* bytes in data */
	u64 data[];		/* a record, 8-byte aligned */
};

/* Keep at most this much between calls, per open device (a flooded pty pair fits). */
#define CKPT_TTY_BUF_KEEP_MAX	(32 * 1024)

/* ckpt_tty_record.c: the layout of records */
int ckpt_tty_buf_reserve(struct ckpt_tty_buf **buf, size_t size);
size_t ckpt_tty_end_data_size(u64 input_len, u64 echo_len, u32 flip_count, bool flip_flagged);
int ckpt_tty_parse_record(const void *buf, size_t size, struct ckpt_tty_pair_view *v);
long ckpt_tty_ioc_checkpoint(struct ckpt_tty_checkpoint_arg __user *uarg, struct ckpt_tty_buf **buf);
long ckpt_tty_ioc_restore(struct ckpt_tty_restore_arg __user *uarg, struct ckpt_tty_buf **buf);

/* ckpt_tty_check.c: what restore accepts */
int ckpt_tty_check_pair(const struct ckpt_tty_pair_view *v);

/* ckpt_tty_pty.c: one pair */
int ckpt_tty_pty_init(void);
int ckpt_tty_checkpoint_pair(int fd, u8 __user *dest, u64 room, struct ckpt_tty_buf **buf, u32 *size);
int ckpt_tty_restore_pair(int fd, const struct ckpt_tty_pair_view *v, u32 flags);

#endif
