#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks of chanbench that need no timing: a smoke run with its cleanup,
# detection of corrupted messages, cleanup on SIGTERM, chan in batches,
# JSON output and usage errors.  Usage: bench_test.sh CASE PATH-TO-CHANBENCH
set -u

case_name=$1
bench=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

die() {
	echo "FAIL: $*" >&2
	exit 1
}

# Fail if any object named with chanbench's prefix for pid $1 is left.
check_no_objects() {
	for dir in /dev/shm /dev/mqueue ${CHAN_SHM_DIR:-}; do
		[ -d "$dir" ] || continue
		left=$(ls "$dir" | grep -e "chanbench-$1-") && \
			die "objects of chanbench pid $1 left in $dir: $left"
	done
	return 0
}

# Print the pid that chanbench put in its "objects" line.
objects_pid() {
	sed -n 's/^objects *chanbench-\([0-9]*\)-\*$/\1/p' "$1"
}

case $case_name in
smoke)
	"$bench" --smoke >"$tmp/out" 2>"$tmp/err" ||
		die "chanbench --smoke exited with $?: $(cat "$tmp/err")"
	pid=$(objects_pid "$tmp/out")
	[ -n "$pid" ] || die "no objects line in the output"
	check_no_objects "$pid"
	for table in "Streaming throughput" "Ping-pong round trip" \
		"several senders" "CPU time"; do
		grep -q "$table" "$tmp/out" || die "table '$table' is missing"
	done
	grep -q "msgsize_max (8192): skipped" "$tmp/out" ||
		[ "$(cat /proc/sys/fs/mqueue/msgsize_max)" -ge 65536 ] ||
		die "the 64 KiB message queue row does not say it was skipped"
	;;
corrupt)
	# Message 5 is spoiled on the sending side: each transport must fail.
	for t in chan pipe unix-stream unix-seqpacket mq spsc; do
		"$bench" --smoke --only "$t" --tests throughput,latency \
			--corrupt 5 >"$tmp/out" 2>"$tmp/err"
		rc=$?
		[ "$rc" -eq 1 ] || die "$t: exit status $rc with a corrupt message, expected 1"
		grep -q "^chanbench: $t 64 B throughput: message 5: payload word" \
			"$tmp/err" || die "$t: no error naming message 5: $(cat "$tmp/err")"
		# The error path must remove the objects too.
		pid=$(sed -n 's/.*objects named chanbench-\([0-9]*\)-\*$/\1/p' \
			"$tmp/err")
		[ -n "$pid" ] || die "$t: no object prefix on stderr"
		check_no_objects "$pid"
	done
	"$bench" --smoke --tests multi --corrupt 3 >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 1 ] || die "multi: a corrupt message did not fail the run"
	grep -q "sequence number 3 from sender 0 by its header): payload word" \
		"$tmp/err" || die "multi: no error naming message 3: $(cat "$tmp/err")"
	;;
sigterm)
	"$bench" --quick --tests throughput >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	# Wait until it has created an object, so that cleanup has work to do.
	i=0
	while ! ls /dev/shm | grep -q -e "chanbench-$pid-"; do
		i=$((i + 1))
		[ $i -lt 500 ] || die "chanbench created no object in 5 s"
		sleep 0.01
	done
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 143 ] || die "exit status $rc after SIGTERM, expected 143"
	grep -q "interrupted" "$tmp/err" || die "no message about the interruption"
	check_no_objects "$pid"
	;;
batch)
	# chan in batches of 16: every check passes and nothing is left.
	"$bench" --smoke --batch 16 >"$tmp/out" 2>"$tmp/err" ||
		die "chanbench --smoke --batch 16 exited with $?: $(cat "$tmp/err")"
	pid=$(objects_pid "$tmp/out")
	[ -n "$pid" ] || die "no objects line in the output"
	check_no_objects "$pid"
	grep -q "^chan batch  *16$" "$tmp/out" || die "no 'chan batch 16' line"
	# 3 throughput rows and 2 sizes x 3 layouts of the multi test.
	rows=$(grep -c "^chan-batch16  " "$tmp/out")
	[ "$rows" -eq 9 ] || die "$rows chan-batch16 rows, expected 9"
	for layout in 1x1 2x2 4x4; do
		grep -q "^chan-batch16  *$layout  *1024  *$((64 * ${layout%x*})) " \
			"$tmp/out" || die "no chan-batch16 $layout row at 1024 B"
	done
	# The batched receivers verify: a spoiled message fails the run.
	"$bench" --smoke --batch 16 --only chan --tests throughput \
		--corrupt 5 >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 1 ] || die "throughput: a corrupt message did not fail the run"
	grep -q "^chanbench: chan-batch16 64 B throughput: message 5: payload word" \
		"$tmp/err" || die "throughput: no error naming message 5: $(cat "$tmp/err")"
	"$bench" --smoke --batch 16 --tests multi --corrupt 3 \
		>"$tmp/out" 2>"$tmp/err"
	[ $? -eq 1 ] || die "multi: a corrupt message did not fail the run"
	grep -q "^chanbench: chan-batch16 64 B 1x1: .*sequence number 3 from sender 0" \
		"$tmp/err" || die "multi: no error naming message 3: $(cat "$tmp/err")"
	pid=$(sed -n 's/.*objects named chanbench-\([0-9]*\)-\*$/\1/p' "$tmp/err")
	[ -n "$pid" ] || die "multi: no object prefix on stderr"
	check_no_objects "$pid"
	"$bench" --batch 257 >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 2 ] || die "--batch 257 did not exit with status 2"
	grep -q "invalid value '257' for --batch" "$tmp/err" ||
		die "no error naming the batch: $(cat "$tmp/err")"
	;;
json)
	"$bench" --smoke --json >"$tmp/out" 2>"$tmp/err" ||
		die "chanbench --smoke --json exited with $?: $(cat "$tmp/err")"
	command -v python3 >/dev/null || exit 77
	python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
for key in ("run", "throughput", "latency", "multi", "idle", "notes"):
    assert key in doc, key
rows = [r for r in doc["throughput"] if r["transport"] == "mq" and r["size"] == 65536]
assert len(rows) == 1, rows
assert rows[0]["messages"] is None, rows
assert "skipped" in rows[0]["note"], rows
' "$tmp/out" || die "invalid JSON or missing members"
	;;
usage)
	"$bench" --sizes 8 >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 2 ] || die "--sizes 8 did not exit with status 2"
	grep -q "invalid size '8' in --sizes" "$tmp/err" ||
		die "no error naming the size: $(cat "$tmp/err")"
	"$bench" --only pipes >"$tmp/out" 2>"$tmp/err"
	[ $? -eq 2 ] || die "--only pipes did not exit with status 2"
	grep -q "unknown transport 'pipes'" "$tmp/err" ||
		die "no error naming the transport: $(cat "$tmp/err")"
	"$bench" --help | grep -q "unix-seqpacket" || die "--help lists no transports"
	;;
*)
	die "unknown case $case_name"
	;;
esac
exit 0
