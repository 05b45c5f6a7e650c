#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Test chan-bus.service under a real systemd booted in nsbox.sh: install
# the project into a staging tree, boot, start the unit, use a channel as
# another user, reload, stop, and read the journal.
#
#   bus_units.sh SOURCE_DIR BINARY_DIR CLIENT
#
# SOURCE_DIR is the project, BINARY_DIR this test's build directory
# (the staging build and the logs go there), CLIENT the bus_client
# program.  Exits 77 when the host cannot run the box.
set -euo pipefail

src=$1
bindir=$2
client=$3
here=$(cd "$(dirname "$0")" && pwd)
nsbox=$here/nsbox.sh
prefix=boxtest
work=
box=

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cleanup() {
	if [ -n "$box" ] && [ -s "$box/pid1" ]; then
		"$nsbox" run "$box" journalctl --no-pager -u chan-bus.service \
			>"$bindir/units-journal.log" 2>&1 || true
		cp "$box/console.log" "$bindir/units-console.log" 2>/dev/null || true
		"$nsbox" stop "$box" || true
	fi
	[ -n "$work" ] && rm -rf "$work"
}

in_box() {
	"$nsbox" run "$box" "$@"
}

as_nobody() {
	in_box setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# Wait up to 10 s for a command in the box to succeed.
wait_for() {
	for _ in $(seq 100); do
		in_box "$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

stage_install() {
	local build=$bindir/units-build

	# A build of its own, configured for the paths of a system install.
	cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_INSTALL_SYSCONFDIR=/etc -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$bindir/units-build.log"
	cmake --build "$build" --target chanbusd chan_static -j 2 >>"$bindir/units-build.log"
	for dir in lib tools/chanbusd systemd docs; do
		DESTDIR=$work/stage cmake -P "$build/$dir/cmake_install.cmake" \
			>>"$bindir/units-build.log"
	done
	install -D -m 755 "$client" "$work/stage/usr/local/bin/bus_client"
	cat >"$work/stage/etc/chan/bus.conf" <<-CONF
	[bus]
	housekeeping-interval = 2

	[channel $prefix.jobs]
	capacity = 16
	max-msg-size = 256
	mode = 0600
	user = nobody
	group = chan-bus
	on-stop = close

	[channel $prefix.events]
	on-stop = remove
	CONF
}

"$nsbox" check || exit 77
rm -f "$bindir"/units-*.log
work=$(mktemp -d /tmp/chan-bus-units.XXXXXX)
trap cleanup EXIT
mkdir -p "$work/stage" "$work/box"
stage_install
box=$work/box
"$nsbox" start "$box" "$work/stage"

# The unit files must verify without a single message.
out=$(in_box systemd-analyze verify chan-bus.service 2>&1) ||
	fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"

# systemd-sysusers made the user from the staged sysusers.d entry.
in_box getent passwd chan-bus >/dev/null || fail "user chan-bus missing"

# Type=notify: active only once READY=1 came, after the channels exist.
in_box systemctl start --no-block chan-bus.service
active=no
for _ in $(seq 200); do
	state=$(in_box systemctl is-active chan-bus.service || true)
	if [ "$state" = active ]; then
		in_box test -e /dev/shm/chan.$prefix.jobs ||
			fail "chan-bus.service active but channel $prefix.jobs missing; see units-journal.log"
		active=yes
		break
	fi
	[ "$state" = failed ] && fail "chan-bus.service failed to start"
	sleep 0.05
done
[ $active = yes ] || fail "chan-bus.service not active after 10 s"

attrs=$(in_box stat -c '%a %U %G' /dev/shm/chan.$prefix.jobs)
[ "$attrs" = "600 nobody chan-bus" ] ||
	fail "$prefix.jobs has mode and owner \"$attrs\", expected 600 nobody chan-bus"
attrs=$(in_box stat -c '%a %U %G' /dev/shm/chan.$prefix.events)
[ "$attrs" = "600 chan-bus chan-bus" ] ||
	fail "$prefix.events has mode and owner \"$attrs\", expected 600 chan-bus chan-bus"
in_box cat /run/chan-bus/channels | grep -qx "$prefix.jobs" ||
	fail "state file does not list $prefix.jobs"

# The owner can use the channel; another user cannot attach.
as_nobody bus_client send $prefix.jobs hello-from-nobody ||
	fail "send as nobody failed"
msg=$(as_nobody bus_client recv $prefix.jobs 5) || fail "recv as nobody failed"
[ "$msg" = hello-from-nobody ] || fail "received \"$msg\""
if in_box setpriv --reuid=daemon --regid=daemon --clear-groups \
	bus_client info $prefix.jobs >/dev/null 2>&1; then
	fail "user daemon attached to a channel of mode 0600 owned by nobody"
fi

# Reload: a mode change on a channel owned by another user, and a new one.
in_box sh -c "sed -i 's/^mode = 0600/mode = 0660/' /etc/chan/bus.conf &&
	printf '[channel $prefix.added]\ncapacity = 4\n' >>/etc/chan/bus.conf"
in_box systemctl reload chan-bus.service || fail "systemctl reload failed"
wait_for sh -c "[ \$(stat -c %a /dev/shm/chan.$prefix.jobs) = 660 ]" ||
	fail "reload did not change the mode of $prefix.jobs"
wait_for test -e /dev/shm/chan.$prefix.added ||
	fail "reload did not create $prefix.added"
[ "$(in_box systemctl is-active chan-bus.service)" = active ] ||
	fail "chan-bus.service not active after the reload"

# Stop: a blocked receiver wakes with end of channel (exit status 3).
as_nobody bus_client recv $prefix.jobs 30 >/dev/null 2>&1 &
receiver=$!
sleep 0.5
in_box systemctl stop chan-bus.service
status=0
wait $receiver || status=$?
[ $status -eq 3 ] || fail "blocked receiver exited with $status, expected 3 (end of channel)"
in_box test ! -e /dev/shm/chan.$prefix.events ||
	fail "$prefix.events (on-stop = remove) still exists"
info=$(in_box bus_client info $prefix.jobs) || fail "$prefix.jobs vanished"
case $info in
*"closed 1"*) ;;
*) fail "$prefix.jobs (on-stop = close) not closed: $info" ;;
esac

# The journal has the lifecycle lines, with the priority prefixes parsed.
journal=$(in_box journalctl --no-pager -o cat -u chan-bus.service)
for line in "starting: configuration /etc/chan/bus.conf" \
	"created channel $prefix.jobs" "ready: 2 channels, 0 errors" \
	"changed channel $prefix.jobs: mode 0660" \
	"created channel $prefix.added" "reloaded: 3 channels, 0 errors" \
	"stopping on SIGTERM" "removed channel $prefix.events" "stopped"; do
	grep -qF "$line" <<<"$journal" || fail "journal lacks \"$line\""
done
if grep -q '^<[0-9]>' <<<"$journal"; then
	fail "journald did not parse the priority prefixes"
fi
errors=$(in_box journalctl --no-pager -o cat -p err -u chan-bus.service)
[ -z "$errors" ] || fail "chan-bus logged errors: $errors"
echo "PASS"
