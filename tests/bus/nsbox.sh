#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot the installed systemd as PID 1 of a throw-away box: fresh pid,
# mount, uts, ipc, net and cgroup namespaces over an overlay of / whose
# writes land in a tmpfs.  The box has no network and no image.
#
#   nsbox.sh start BOXDIR STAGEDIR   boot; STAGEDIR is copied over /
#   nsbox.sh run BOXDIR CMD...       run CMD inside the box
#   nsbox.sh stop BOXDIR             power off and remove the cgroup
#   nsbox.sh check                   exit 0 if this host can run a box
#
# BOXDIR is an empty directory that holds the box's bookkeeping: the
# host PID of its systemd (pid1), its cgroup (cgroup) and the console
# output (console.log).  Needs root, a cgroup2 mount, unshare, nsenter
# and script (util-linux).
set -euo pipefail

self=$(readlink -f "$0")
boot_timeout=${NSBOX_BOOT_TIMEOUT:-60}
stop_timeout=${NSBOX_STOP_TIMEOUT:-30}

die() {
	echo "nsbox: $*" >&2
	exit 1
}

cgroup2_root() {
	findmnt -n -t cgroup2 -o TARGET | head -n 1
}

check() {
	[ "$(id -u)" -eq 0 ] || { echo "nsbox: needs root" >&2; return 1; }
	[ -n "$(cgroup2_root)" ] || { echo "nsbox: no cgroup2 mount" >&2; return 1; }
	for tool in unshare nsenter script setpriv findmnt pivot_root; do
		command -v "$tool" >/dev/null ||
			{ echo "nsbox: $tool not found" >&2; return 1; }
	done
	[ -x /lib/systemd/systemd ] ||
		{ echo "nsbox: /lib/systemd/systemd not found" >&2; return 1; }
}

make_devices() {
	local dev=$1

	mount -t tmpfs -o mode=755,nosuid,size=4m nsbox-dev "$dev"
	mknod -m 666 "$dev/null" c 1 3
	mknod -m 666 "$dev/zero" c 1 5
	mknod -m 666 "$dev/full" c 1 7
	mknod -m 666 "$dev/random" c 1 8
	mknod -m 666 "$dev/urandom" c 1 9
	mknod -m 666 "$dev/tty" c 5 0
	mkdir "$dev/pts" "$dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts \
		"$dev/pts"
	ln -s pts/ptmx "$dev/ptmx"
	mount -t tmpfs -o mode=1777,nosuid,nodev nsbox-shm "$dev/shm"
	ln -s /proc/self/fd "$dev/fd"
	ln -s /proc/self/fd/0 "$dev/stdin"
	ln -s /proc/self/fd/1 "$dev/stdout"
	ln -s /proc/self/fd/2 "$dev/stderr"

	# The console is the pty that script(1) gave the box.
	touch "$dev/console"
	mount --bind "$(tty)" "$dev/console"
}

# Runs as PID 1 of the new namespaces, before systemd.
inner() {
	local box=$1 stage=$2 root

	mount --make-rprivate /
	mkdir -p "$box/mnt"
	mount -t tmpfs -o mode=700 nsbox "$box/mnt"
	mkdir "$box/mnt/upper" "$box/mnt/work" "$box/mnt/root"
	root=$box/mnt/root
	mount -t overlay nsbox-root \
		-o "lowerdir=/,upperdir=$box/mnt/upper,workdir=$box/mnt/work" \
		"$root"

	mount -t proc proc "$root/proc"
	mount --bind "$root/proc/sys" "$root/proc/sys"
	mount -o remount,bind,ro "$root/proc/sys"
	mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
	make_devices "$root/dev"
	mount -t tmpfs -o mode=755,nosuid,nodev nsbox-run "$root/run"
	mount -t tmpfs -o mode=1777,nosuid,nodev nsbox-tmp "$root/tmp"

	tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
	mkdir -p "$root/etc/systemd/system"
	ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
	tar -C "$stage" -cf - . | tar -C "$root" -xf - --keep-directory-symlink

	# Wait until the host has moved script and unshare out of this cgroup,
	# so that systemd finds its cgroup root holding only the box.
	for _ in $(seq 100); do
		[ -e "$box/released" ] && break
		sleep 0.1
	done

	cd "$root"
	mkdir -p .nsbox-old
	pivot_root . .nsbox-old
	cd /
	umount -l /.nsbox-old
	rmdir /.nsbox-old
	mount --make-rshared /

	exec setpriv --bounding-set=-sys_module,-sys_rawio,-sys_time,-syslog,-sys_pacct,-mac_admin,-mac_override,-wake_alarm,-block_suspend \
		env -i container=nsbox TERM=dumb \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd
}

box_pid1() {
	cat "$1/pid1"
}

run() {
	local box=$1

	shift
	nsenter -t "$(box_pid1 "$box")" -m -u -i -n -p -C -- "$@"
}

# Move the host-side processes (script, shell, unshare) to supervisor/.
release() {
	local box=$1 cg=$2 own_ns pid

	own_ns=$(readlink /proc/self/ns/pid)
	for pid in $(cat "$cg/payload/cgroup.procs"); do
		if [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$own_ns" ]; then
			echo "$pid" >"$cg/supervisor/cgroup.procs" 2>/dev/null || true
		elif grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$pid/status" 2>/dev/null; then
			echo "$pid" >"$box/pid1"
		fi
	done
	[ -s "$box/pid1" ]
}

start() {
	local box=$1 stage=$2 cg state

	check || exit 77
	box=$(readlink -f "$box")
	stage=$(readlink -f "$stage")
	cg=$(cgroup2_root)/nsbox-$$-$(basename "$box")
	mkdir -p "$cg/payload" "$cg/supervisor"
	echo "$cg" >"$box/cgroup"

	(
		echo "$BASHPID" >"$cg/payload/cgroup.procs"
		exec script -qfec "unshare --fork --kill-child --pid --mount --uts --ipc --net --cgroup --propagation private $self inner $box $stage" \
			"$box/console.log" </dev/null >/dev/null 2>&1
	) &

	# Wait for the box's PID 1 to appear, then move the rest out.
	for _ in $(seq 100); do
		release "$box" "$cg" && break
		sleep 0.1
	done
	[ -s "$box/pid1" ] || die "the box did not start; see $box/console.log"
	touch "$box/released"

	for _ in $(seq $((boot_timeout * 5))); do
		state=$(run "$box" systemctl is-system-running 2>/dev/null || true)
		case $state in
		running | degraded) return 0 ;;
		esac
		sleep 0.2
	done
	die "systemd in the box did not finish booting (state: ${state:-none})"
}

wait_empty() {
	local cg=$1 ticks=$2

	for _ in $(seq "$ticks"); do
		grep -q '^populated 0' "$cg/cgroup.events" && return 0
		sleep 0.1
	done
	return 1
}

stop() {
	local box=$1 cg pid1

	[ -s "$box/cgroup" ] || return 0
	cg=$(cat "$box/cgroup")
	pid1=$(cat "$box/pid1" 2>/dev/null || true)
	if [ -n "$pid1" ]; then
		kill -s RTMIN+4 "$pid1" 2>/dev/null || true
	fi
	if ! wait_empty "$cg" $((stop_timeout * 10)); then
		echo "nsbox: the box did not power off; killing it" >&2
		echo 1 >"$cg/cgroup.kill"
		wait_empty "$cg" 100 || die "failed to kill the box in $cg"
	fi
	find "$cg" -depth -type d -exec rmdir {} \;
	rm -f "$box/cgroup"
}

case ${1:-} in
check) check ;;
start) start "$2" "$3" ;;
run) shift; run "$@" ;;
stop) stop "$2" ;;
inner) inner "$2" "$3" ;;
*) die "usage: nsbox.sh check | start BOXDIR STAGEDIR | run BOXDIR CMD... | stop BOXDIR" ;;
esac
