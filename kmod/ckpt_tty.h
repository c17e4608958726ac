/* SPDX-License-Identifier: GPL-2.0 */
/* ckpt_tty: declarations shared between the module's files. */
#ifndef CKPT_TTY_H
#define CKPT_TTY_H

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

struct ckpt_tty_pair_view {
	const struct ckpt_tty_record *r;
	struct ckpt_tty_end_view master, slave;
};

/* ckpt_tty_record.c: the layout of records */
size_t ckpt_tty_end_data_size(u64 input_len, u64 echo_len, u32 flip_count, bool flip_flagged);
int ckpt_tty_parse_record(const void *buf, size_t size, struct ckpt_tty_pair_view *v);
long ckpt_tty_ioc_checkpoint(struct ckpt_tty_checkpoint_arg __user *uarg);
long ckpt_tty_ioc_restore(struct ckpt_tty_restore_arg __user *uarg);

/* ckpt_tty_check.c: what restore accepts */
int ckpt_tty_check_pair(const struct ckpt_tty_pair_view *v);

/* ckpt_tty_pty.c: one pair */
int ckpt_tty_pty_init(void);
int ckpt_tty_checkpoint_pair(int fd, struct ckpt_tty_record **out);
int ckpt_tty_restore_pair(int fd, const struct ckpt_tty_pair_view *v, u32 flags);

#endif
