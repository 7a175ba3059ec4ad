#!/bin/sh
# The batch of docs/scale.md's figures (BenchmarkBatch in
# workflows/temporal): RUNS runs (default 1000) of a two-call flow across
# two credential domains, started at once, on the local engine and then
# through Temporal (the test server, a flow worker, two domain workers),
# in one process. Prints the load average before and after, and per
# engine runs/s and the p50/p99 of a run's time. A figure, not a
# threshold. Needs the test server: built (about 5 minutes cold) and
# cached by scripts/temporal-testserver.sh.
set -eu
cd "$(dirname "$0")/.."
MEDIATOR_TEMPORAL_TESTSERVER=$(bash scripts/temporal-testserver.sh)
export MEDIATOR_TEMPORAL_TESTSERVER
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
go test -c -o "$tmp/temporal.test" ./workflows/temporal
echo "before: $(uptime)"
(cd workflows/temporal && "$tmp/temporal.test" -test.run '^$' -test.bench Batch -test.benchtime 1x -batch.runs "${RUNS:-1000}") |
	grep '^BenchmarkBatch'
echo "after:  $(uptime)"
