#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The example transcript of README "A whole process tree, one command each":
# a tmux server with a sh pane in which a line is half typed, dumped and
# restored with pyctl criu.  Runs in a test VM with the module loaded:
#   python -m tests.vm --kernel 6.1 -- scripts/criu-example.sh

set -euo pipefail
step() {
	printf '\n$ %s\n' "$*"
	"$@"
}
work=$(mktemp -d /tmp/ckpt-tty-example.XXXXXX)
export TERM=xterm SHELL=/bin/sh
cgroup=/sys/fs/cgroup/ckpt-tty-example
mkdir -p "$cgroup"
tmux_() { tmux -S "$work/tmux.sock" "$@"; }
cleanup() {
	tmux_ kill-server 2>/dev/null || true
	sleep 0.5
	rmdir "$cgroup" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

[ -e /dev/ckpt_tty ] || insmod "$CKPT_TTY_KO"
echo "# a tmux server in a cgroup of its own, one pane running sh; the user half types a line"
step sh -c "echo \$\$ > $cgroup/cgroup.procs && exec tmux -S $work/tmux.sock -f /dev/null new-session -d -x 60 -y 8 \
'printf \"name? \"; read -r name; echo \"hello, \$name\"; sleep 600'"
sleep 1
step tmux -S "$work/tmux.sock" send-keys -l 'Ada Lovel'
sleep 0.5
step tmux -S "$work/tmux.sock" capture-pane -p -E 1
server=$(tmux_ display-message -p '#{pid}')
echo "# dump the whole tree: the server, the pane's sh, and their pty"
step python -m pyctl criu dump -t "$server" -D "$work/dump"
printf '\n$ ls %s | grep ckpt-tty    # beside criu'"'"'s own images\n' "$work/dump"
ls "$work/dump" | grep ckpt-tty
echo "# later (here: at once), restore it"
step python -m pyctl criu restore -D "$work/dump" -- --restore-detached
sleep 1
step tmux -S "$work/tmux.sock" send-keys -l 'ace'
step tmux -S "$work/tmux.sock" send-keys Enter
sleep 1
step tmux -S "$work/tmux.sock" capture-pane -p -E 1
