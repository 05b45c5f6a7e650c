#!/bin/sh
# Demonstrate chan between separate processes on real data:
#  1. stream a directory tree through a channel with tar, in two unrelated
#     processes, and compare checksums of every file on both sides;
#  2. run the C example producer, which sends 0..99, against the consumer,
#     which prints each message until the channel is closed.
#
# usage: examples/demo.sh [BUILD_DIR] [TREE]
#   BUILD_DIR  the cmake build directory (default: build)
#   TREE       the directory to stream (default: /usr/include)
set -eu

build=${1:-build}
tree=${2:-/usr/include}
chanctl=$build/tools/chanctl/chanctl
tree_chan=demo-tree-$$
numbers_chan=demo-numbers-$$
work=$(mktemp -d)

cleanup() {
	"$chanctl" rm --force "$tree_chan" "$numbers_chan" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

for program in "$chanctl" "$build/examples/producer" "$build/examples/consumer"; do
	if [ ! -x "$program" ]; then
		echo "demo: $program not found; build first with" \
			"'cmake -S . -B $build && cmake --build $build'" >&2
		exit 1
	fi
done

echo "== Streaming $tree through channel $tree_chan"
"$chanctl" create "$tree_chan" --capacity 64 --msg-size 64K
mkdir "$work/copy"
"$chanctl" recv --raw "$tree_chan" | tar -x -C "$work/copy" &
receiver=$!
tar -c -C "$tree" . | "$chanctl" send --raw --close "$tree_chan"
wait "$receiver"
"$chanctl" info "$tree_chan"

(cd "$tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
	>"$work/source.sha256"
(cd "$work/copy" && sha256sum --quiet -c "$work/source.sha256")
files=$(wc -l <"$work/source.sha256")
bytes=$(du -sb "$work/copy" | cut -f1)
echo "== $files files ($bytes bytes) arrived intact"

echo "== Producer sends 0..99 on $numbers_chan; consumer prints them"
"$build/examples/consumer" "$numbers_chan" >"$work/numbers" &
consumer=$!
"$build/examples/producer" "$numbers_chan"
wait "$consumer"
tr '\n' ' ' <"$work/numbers"
echo
seq 0 99 | cmp -s - "$work/numbers"
echo "== The consumer printed 0..99 in order, then saw end-of-channel"
