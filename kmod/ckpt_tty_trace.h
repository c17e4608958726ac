/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ckpt_tty tracepoints: when a pair is frozen and thawed, for
 * tools/ckpt-tty-frozen (bcc).  ckpt_tty_locked fires once the first of the
 * pair's locks is taken, ckpt_tty_unlocked once the last is dropped, both
 * in the same task; op is a CKPT_TTY_TRACE_OP_* of the uapi header.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM ckpt_tty

#if !defined(CKPT_TTY_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define CKPT_TTY_TRACE_H

#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(ckpt_tty_pair_lock,
	TP_PROTO(unsigned int index, unsigned int op),
	TP_ARGS(index, op),
	TP_STRUCT__entry(
		__field(unsigned int, index)
		__field(unsigned int, op)
	),
	TP_fast_assign(
		__entry->index = index;
		__entry->op = op;
	),
	TP_printk("pts %u op %u", __entry->index, __entry->op)
);

DEFINE_EVENT(ckpt_tty_pair_lock, ckpt_tty_locked,
	TP_PROTO(unsigned int index, unsigned int op),
	TP_ARGS(index, op));

DEFINE_EVENT(ckpt_tty_pair_lock, ckpt_tty_unlocked,
	TP_PROTO(unsigned int index, unsigned int op),
	TP_ARGS(index, op));

#endif /* CKPT_TTY_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE ckpt_tty_trace
#include <trace/define_trace.h>
