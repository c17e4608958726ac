/* SPDX-License-Identifier: GPL-2.0 */
/* ckpt_tty: declarations shared between the module's files. */
#ifndef CKPT_TTY_H
#define CKPT_TTY_H

#include <linux/ckpt_tty.h>

int ckpt_tty_pty_init(void);
long ckpt_tty_checkpoint(struct ckpt_tty_pair_arg __user *uarg);
long ckpt_tty_restore(struct ckpt_tty_pair_arg __user *uarg);
int ckpt_tty_check_pair(const struct ckpt_tty_pair *pair);	/* ckpt_tty_check.c */

#endif
