# SPDX-License-Identifier: GPL-2.0
#
#   make                  build ckpt_tty.ko for the running kernel
#   make KDIR=<dir>       ... for the kernel whose build tree is <dir>
#   make KBTF=<vmlinux>   ... taking struct n_tty_data's layout from <vmlinux>
#   make install          install it into /lib/modules/<release>/updates
#   make demo             boot a test VM and show the module at work
#   make check            run the whole test suite (host and VM tests)
#   make golden           regenerate images/golden/ on each kernel of the matrix
#   make bench-speed      checkpoint/restore speed against anchors, in the VM on each kernel

KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules modules_install clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $@

install: modules_install

demo:
	./scripts/demo.sh

check:
	./scripts/check.sh

golden:
	./scripts/golden.sh

bench-speed:
	./scripts/bench-speed.sh

.PHONY: all modules modules_install install clean demo check golden bench-speed
