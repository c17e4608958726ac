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
 * version changes when the meaning of an existing field changes.
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

#define CKPT_TTY_ABI_VERSION		1

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

/* 0xC7 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define CKPT_TTY_IOC_TYPE		0xC7

#define CKPT_TTY_IOC_GET_INFO		_IOR(CKPT_TTY_IOC_TYPE, 0x00, struct ckpt_tty_info)

#endif /* _UAPI_LINUX_CKPT_TTY_H */
