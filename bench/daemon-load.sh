#!/bin/sh
# Load on a real `mediator daemon` (TestDaemonLoad): RUNS_AT_ONCE runs
# (default 500) submitted concurrently over its HTTP API on loopback, each
# calling two go-sdk servers (loopback streamable HTTP, in the test
# process). Prints submissions per second, run latency p50/p99 (the
# daemon's submitted_at to finished_at), the daemon's peak RSS (VmHWM)
# and how many runs succeeded; fails if any did not. A figure, not a
# threshold. MAX sets daemon.max_concurrent_runs (default: the daemon's).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
go build -o "$tmp/bin/" ./cmd/mediator
go test -c -o "$tmp/bench.test" ./bench
status=0
"$tmp/bench.test" -test.run '^TestDaemonLoad$' -test.v -daemonload -daemonload.bin "$tmp/bin" \
	-daemonload.runs "${RUNS_AT_ONCE:-500}" -daemonload.max "${MAX:-0}" >"$tmp/out" 2>&1 || status=$?
if [ "$status" != 0 ]; then
	cat "$tmp/out"
	exit "$status"
fi
grep 'daemon load:' "$tmp/out" | sed 's/^ *daemon_load_test.go:[0-9]*: /  /'
