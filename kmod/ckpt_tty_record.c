// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt_tty: records (the ABI 3 layout of a pair, see the uapi header) and
 * the two ioctls that move them, many pairs per call.
 *
 * Memory per call follows what the pairs hold: one buffer (struct
 * ckpt_tty_buf) holds a record at a time, as large as the largest one of
 * the call; a checkpoint hands each record to userspace before the next
 * pair, a restore reads one record at a time.
 */

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ckpt_tty.h"

static_assert(sizeof(struct ckpt_tty_end) == 256);
static_assert(sizeof(struct ckpt_tty_record) == 32);
static_assert(sizeof(struct ckpt_tty_restore_item) == 16);
static_assert(CKPT_TTY_RECORD_MAX == sizeof(struct ckpt_tty_record) +
	      2 * (sizeof(struct ckpt_tty_end) + 2 * CKPT_TTY_RING_SIZE + CKPT_TTY_RING_FLAG_BYTES +
		   2 * CKPT_TTY_FLIP_MAX));

static size_t pad8(u64 n)
{
	return ALIGN(n, 8);
}

/* Room for size bytes in *buf, whose contents are not kept; on -ENOMEM *buf is as it was. */
int ckpt_tty_buf_reserve(struct ckpt_tty_buf **buf, size_t size)
{
	struct ckpt_tty_buf *b = *buf;

	if (b && b->room >= size)
		return 0;
	size = pad8(size);
	b = kvmalloc(struct_size(b, data, size / 8), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->room = size;
	kvfree(*buf);
	*buf = b;
	return 0;
}

/* Bytes of an end's data; the caller bounds the lengths (rings, CKPT_TTY_FLIP_MAX). */
size_t ckpt_tty_end_data_size(u64 input_len, u64 echo_len, u32 flip_count, bool flip_flagged)
{
	return pad8(input_len) + pad8(DIV_ROUND_UP(input_len, 8)) + pad8(echo_len) +
	       pad8(flip_count) + (flip_flagged ? pad8(flip_count) : 0);
}

/* Zero padding after n bytes of a part */
static bool padding_zero(const u8 *part, u64 n)
{
	return !memchr_inv(part + n, 0, pad8(n) - n);
}

/*
 * Find an end's parts in [*pos, end) and check the sizes and padding only;
 * ckpt_tty_check_pair() judges the contents.
 */
static int parse_end(const u8 *base, size_t *pos, size_t end, struct ckpt_tty_end_view *v)
{
	const struct ckpt_tty_end *e;
	u64 input_len, echo_len;
	const u8 *p;

	if (end - *pos < sizeof(*e))
		return -EINVAL;
	e = (const void *)(base + *pos);
	*pos += sizeof(*e);
	input_len = e->read_head - e->read_tail;
	echo_len = e->echo_head - e->echo_tail;
	if (input_len > CKPT_TTY_RING_SIZE || echo_len > CKPT_TTY_RING_SIZE || e->flip_count > CKPT_TTY_FLIP_MAX ||
	    e->flip_flagged > 1)
		return -EINVAL;
	if (e->data_size != ckpt_tty_end_data_size(input_len, echo_len, e->flip_count, e->flip_flagged) ||
	    e->data_size > end - *pos)
		return -EINVAL;
	v->e = e;
	v->input_len = input_len;
	v->echo_len = echo_len;
	p = base + *pos;
	v->input = p;
	p += pad8(input_len);
	v->line_ends = p;
	p += pad8(DIV_ROUND_UP(input_len, 8));
	v->echo = p;
	p += pad8(echo_len);
	v->flip_data = p;
	p += pad8(e->flip_count);
	v->flip_flags = e->flip_flagged ? p : NULL;
	if (!padding_zero(v->input, input_len) || !padding_zero(v->line_ends, DIV_ROUND_UP(input_len, 8)) ||
	    !padding_zero(v->echo, echo_len) || !padding_zero(v->flip_data, e->flip_count) ||
	    (v->flip_flags && !padding_zero(v->flip_flags, e->flip_count)))
		return -EINVAL;
	/* line-end bits past the input */
	if ((input_len % 8) && (v->line_ends[input_len / 8] >> (input_len % 8)))
		return -EINVAL;
	*pos += e->data_size;
	return 0;
}

/* A record of exactly ``size`` bytes: header, master, slave, nothing after. */
int ckpt_tty_parse_record(const void *buf, size_t size, struct ckpt_tty_pair_view *v)
{
	const struct ckpt_tty_record *r = buf;
	size_t pos = sizeof(*r);
	int ret;

	if (size < sizeof(*r) || r->size != size || size % 8 || r->error || r->reserved0 ||
	    memchr_inv(r->reserved, 0, sizeof(r->reserved)))
		return -EINVAL;
	v->r = r;
	ret = parse_end(buf, &pos, size, &v->master);
	if (!ret)
		ret = parse_end(buf, &pos, size, &v->slave);
	if (!ret && pos != size)
		return -EINVAL;
	return ret;
}

/* ---- CKPT_TTY_IOC_CHECKPOINT ---- */

long ckpt_tty_ioc_checkpoint(struct ckpt_tty_checkpoint_arg __user *uarg, struct ckpt_tty_buf **buf)
{
	struct ckpt_tty_checkpoint_arg arg;
	s32 __user *ufds;
	u8 __user *out;
	u64 used = 0;
	u32 i;
	long ret = 0;
	int first_err = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved0 || memchr_inv(arg.reserved, 0, sizeof(arg.reserved)) ||
	    !arg.count || arg.count > CKPT_TTY_BATCH_MAX)
		return -EINVAL;
	ufds = u64_to_user_ptr(arg.fds);
	out = u64_to_user_ptr(arg.buf);
	for (i = 0; i < arg.count; i++) {
		s32 fd;
		u32 size;
		int err;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (get_user(fd, ufds + i)) {
			ret = -EFAULT;
			break;
		}
		/* the record goes straight to out + used (ckpt_tty_checkpoint_pair()) */
		err = ckpt_tty_checkpoint_pair(fd, out + used, arg.buf_size - used, buf, &size);
		if (err == -EFAULT) {	/* the caller's buffer, not the pair */
			ret = err;
			break;
		}
		if (err && err != -ENOSPC) {
			struct ckpt_tty_record failed = { .size = sizeof(failed), .error = err, .fd = fd };

			size = sizeof(failed);
			if (size <= arg.buf_size - used && copy_to_user(out + used, &failed, size)) {
				ret = -EFAULT;
				break;
			}
		}
		if (err == -ENOSPC || size > arg.buf_size - used) {
			if (!i) {	/* say how much the first one needs */
				ret = -ENOSPC;
				used = size;
			}
			break;
		}
		if (!i)
			first_err = err;
		used += size;
	}
	/* A single fd's own error is the call's: what ABI 2 callers expect of one pair. */
	if (!ret && arg.count == 1 && i == 1)
		ret = first_err;
	if (put_user(used, &uarg->buf_used) || put_user(ret == -ENOSPC ? 0 : i, &uarg->done))
		return -EFAULT;
	return ret;
}

/* ---- CKPT_TTY_IOC_RESTORE ---- */

/* Copy item's record from userspace into *buf and parse it (v points into *buf). */
static int fetch_record(const struct ckpt_tty_restore_arg *arg, const struct ckpt_tty_restore_item *item,
			struct ckpt_tty_buf **buf, struct ckpt_tty_pair_view *v)
{
	const u8 __user *base = u64_to_user_ptr(arg->buf);
	u32 size;
	int ret;

	if (item->offset % 8 || item->offset > arg->buf_size ||
	    arg->buf_size - item->offset < sizeof(struct ckpt_tty_record))
		return -EINVAL;
	if (get_user(size, (const u32 __user *)(base + item->offset)))
		return -EFAULT;
	if (size > CKPT_TTY_RECORD_MAX || size > arg->buf_size - item->offset)
		return -EINVAL;
	ret = ckpt_tty_buf_reserve(buf, size);
	if (ret)
		return ret;
	if (copy_from_user((*buf)->data, base + item->offset, size))
		return -EFAULT;
	if (ckpt_tty_parse_record((*buf)->data, size, v))
		return -EINVAL;
	return ckpt_tty_check_pair(v);
}

/*
 * Two passes: every record is checked before any pair is touched, then each
 * is read again (userspace may have changed it meanwhile: checked again) and
 * installed.  A pair that cannot take its record (EBUSY, ENOMEM) gets the
 * error in its item; the others go on.  One record needs no first pass.
 */
long ckpt_tty_ioc_restore(struct ckpt_tty_restore_arg __user *uarg, struct ckpt_tty_buf **buf)
{
	struct ckpt_tty_restore_arg arg;
	struct ckpt_tty_restore_item one, *items = &one;
	struct ckpt_tty_pair_view v;
	u32 i, done = 0;
	long ret = 0;
	int err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~CKPT_TTY_RESTORE_FLAGS) || arg.reserved0 || memchr_inv(arg.reserved, 0, sizeof(arg.reserved)) ||
	    !arg.count || arg.count > CKPT_TTY_BATCH_MAX)
		return -EINVAL;
	if ((arg.flags & (CKPT_TTY_RESTORE_FORCE | CKPT_TTY_RESTORE_HANGUP)) && !(arg.flags & CKPT_TTY_RESTORE_ONTO))
		return -EINVAL;
	if (arg.count > 1) {
		items = kvmalloc_array(arg.count, sizeof(*items), GFP_KERNEL);
		if (!items)
			return -ENOMEM;
	}
	if (copy_from_user(items, u64_to_user_ptr(arg.items), arg.count * sizeof(*items))) {
		ret = -EFAULT;
		goto out;
	}
	for (i = 0; i < arg.count; i++) {
		if (items[i].error) {
			ret = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < arg.count && arg.count > 1 && !ret; i++) {
		err = fetch_record(&arg, &items[i], buf, &v);
		if (err) {
			items[i].error = err;
			ret = err;
		}
	}
	for (i = 0; i < arg.count && !ret; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		err = fetch_record(&arg, &items[i], buf, &v);
		if (!err)
			err = ckpt_tty_restore_pair(items[i].fd, &v, arg.flags);
		items[i].error = err;
		if (!err)
			done++;
	}
	/* A single pair's own error is the call's: what ABI 2 callers expect. */
	if (!ret && arg.count == 1)
		ret = items[0].error;
	if (copy_to_user(u64_to_user_ptr(arg.items), items, arg.count * sizeof(*items)) ||
	    put_user(done, &uarg->done))
		ret = -EFAULT;
out:
	if (items != &one)
		kvfree(items);
	return ret;
}
