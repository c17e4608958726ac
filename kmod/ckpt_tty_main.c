// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt_tty: checkpoint and restore of live Linux terminals.
 *
 * This file registers the misc device /dev/ckpt_tty and dispatches its
 * ioctls.  The ABI is documented in uapi/linux/ckpt_tty.h.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/tty.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <generated/utsrelease.h>

#include "ckpt_tty.h"
#include "ntty_layout.h"

#define CKPT_TTY_VERSION "0.1.0"

/*
 * The module's build information, in its own ELF section so that pyctl can
 * read it from ckpt_tty.ko without loading it.  GET_INFO returns a copy with
 * the running kernel's release.  No pointers: the section needs no
 * relocations and reads the same in the file and in memory.
 */
static const struct ckpt_tty_info ckpt_tty_build_info
	__used __section(CKPT_TTY_INFO_SECTION) __aligned(8) = {
	.magic = CKPT_TTY_INFO_MAGIC,
	.abi_version = CKPT_TTY_ABI_VERSION,
	.info_size = sizeof(struct ckpt_tty_info),
#ifdef __LITTLE_ENDIAN
	.byte_order = CKPT_TTY_LITTLE_ENDIAN,
#else
	.byte_order = CKPT_TTY_BIG_ENDIAN,
#endif
	.features = CKPT_TTY_FEATURE_GET_INFO | CKPT_TTY_FEATURE_CHECKPOINT | CKPT_TTY_FEATURE_RESTORE |
		    CKPT_TTY_FEATURE_RESTORE_ONTO | CKPT_TTY_FEATURE_RECORDS | CKPT_TTY_FEATURE_DEVPTS_DEV |
		    CKPT_TTY_FEATURE_HUNG_UP | CKPT_TTY_FEATURE_ONTO_HANGUP,
	.n_tty_buf_size = N_TTY_BUF_SIZE,
	.nccs = NCCS,
	.ncc = NCC,
	.bits_per_long = BITS_PER_LONG,
	.ktermios_size = sizeof(struct ktermios),
	.n_tty_data_size = CKPT_NTTY_DATA_SIZE,
	.n_tty_data_fingerprint = CKPT_NTTY_DATA_FINGERPRINT,
	.kernel_release = UTS_RELEASE,
};

static long ckpt_tty_get_info(void __user *uarg)
{
	struct ckpt_tty_info info = ckpt_tty_build_info;

	memset(info.kernel_release, 0, sizeof(info.kernel_release));
	strscpy(info.kernel_release, utsname()->release, sizeof(info.kernel_release));
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/*
 * file->private_data: the record buffer this open device keeps between
 * calls (struct ckpt_tty_buf), or NULL.  A call takes it out with xchg(),
 * so threads sharing the file never share a buffer.
 */
static int ckpt_tty_open(struct inode *inode, struct file *file)
{
	/* The file mode keeps others out; this keeps out root without caps. */
	if (!checkpoint_restore_ns_capable(&init_user_ns))
		return -EPERM;
	file->private_data = NULL;	/* misc_open() left the miscdevice there */
	return 0;
}

static int ckpt_tty_release(struct inode *inode, struct file *file)
{
	kvfree(file->private_data);
	return 0;
}

/* Give a call's buffer back to the file, if small and the file holds none. */
static void ckpt_tty_keep_buf(struct file *file, struct ckpt_tty_buf *buf)
{
	if (buf && buf->room <= CKPT_TTY_BUF_KEEP_MAX && !cmpxchg(&file->private_data, NULL, buf))
		return;
	kvfree(buf);
}

static long ckpt_tty_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct ckpt_tty_buf *buf;
	long ret;

	switch (cmd) {
	case CKPT_TTY_IOC_GET_INFO:
		return ckpt_tty_get_info(uarg);
	case CKPT_TTY_IOC_CHECKPOINT:
		buf = xchg(&file->private_data, NULL);
		ret = ckpt_tty_ioc_checkpoint(uarg, &buf);
		ckpt_tty_keep_buf(file, buf);
		return ret;
	case CKPT_TTY_IOC_RESTORE:
		buf = xchg(&file->private_data, NULL);
		ret = ckpt_tty_ioc_restore(uarg, &buf);
		ckpt_tty_keep_buf(file, buf);
		return ret;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ckpt_tty_fops = {
	.owner = THIS_MODULE,
	.open = ckpt_tty_open,
	.release = ckpt_tty_release,
	.unlocked_ioctl = ckpt_tty_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ckpt_tty_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ckpt_tty",
	.fops = &ckpt_tty_fops,
	.mode = 0600,
};

static int __init ckpt_tty_init(void)
{
	int ret;

	ret = ckpt_tty_pty_init();
	if (ret)
		return ret;
	ret = misc_register(&ckpt_tty_misc);
	if (ret) {
		pr_err("cannot register /dev/ckpt_tty: %d\n", ret);
		return ret;
	}
	pr_info("version " CKPT_TTY_VERSION ", ABI %u, n_tty_data layout %016llx\n",
		CKPT_TTY_ABI_VERSION, (unsigned long long)CKPT_NTTY_DATA_FINGERPRINT);
	return 0;
}

static void __exit ckpt_tty_exit(void)
{
	misc_deregister(&ckpt_tty_misc);
}

module_init(ckpt_tty_init);
module_exit(ckpt_tty_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("ckpt-tty developers");
MODULE_DESCRIPTION("Checkpoint and restore of live terminals");
MODULE_VERSION(CKPT_TTY_VERSION);
