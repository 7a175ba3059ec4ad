#!/bin/sh
# Prints the cost of mediation as the ratio mediated/direct per call, for an
# in-process server and for loopback streamable HTTP, two ways:
#   1. the Benchmark* functions, COUNT runs each (default 5), taking turns
#      in fresh processes, median ns/op;
#   2. TestRatio, which alternates batches of direct and mediated calls in
#      one process, so load from other processes hits both sides alike.
#      TestRatio runs RUNS times (default 5), each in a fresh process: runs
#      differ by more than batches within a run do (where goroutines land,
#      when the GC runs), so the median over runs is the reported number.
#   3. TestOneShotRatio: whole `mediator call` processes against a bare
#      go-sdk client process (bench/bareclient) on the same stdio server,
#      a Go one (bench/stdioserver) and server-everything (node, from
#      `make tools`). Skip it with ONESHOT=0.
#   4. TestServeRatio: a call through `mediator serve --stdio` (the real
#      binary, a go-sdk client as the host) against the same call made
#      directly on the backend over loopback HTTP, alternating batches in
#      one process, RUNS runs; beside it the floor, a bare go-sdk stdio
#      proxy (bench/stdioproxy), against the direct call and against
#      mediator. Skip it with SERVE=0.
# CALL=0 skips 1 and 2 (e.g. CALL=0 ONESHOT=0 sh bench/ratio.sh for serve
# alone).
# Targets: <= 1.10 in-process, <= 1.05 over HTTP, <= 1.05 one-shot against
# server-everything, <= 1.5 through mediator serve. On a busy machine trust
# (2) over (1).
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

go test -c -o "$tmp/bench.test" ./bench
RUNS=${RUNS:-5}
if [ "${CALL:-1}" != 0 ]; then
# Each benchmark runs in a process of its own, the four taking turns, so
# drift on the machine spreads over all of them instead of hitting
# whichever ran last.
for i in $(seq "$COUNT"); do
	for b in DirectInProcess MediatedInProcess DirectHTTP MediatedHTTP; do
		"$tmp/bench.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchmem | grep '^Benchmark' | tee -a "$tmp/out"
	done
done

echo
echo "Benchmark medians over $COUNT runs:"
awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	n[name]++; v[name, n[name]] = $3
}
function median(name,   i, j, t, k, a) {
	k = n[name]
	for (i = 1; i <= k; i++) a[i] = v[name, i]
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	split("InProcess:1.10 HTTP:1.05", pairs, " ")
	for (p in pairs) {
		split(pairs[p], kv, ":"); s = kv[1]
		if (!n["Direct" s] || !n["Mediated" s]) continue
		d = median("Direct" s); m = median("Mediated" s)
		printf "  %-10s direct %9.0f ns/op  mediated %9.0f ns/op  ratio %.3f  (target <= %s)\n", s, d, m, m / d, kv[2]
	}
}' "$tmp/out"

echo
echo "Alternating batches (TestRatio), $RUNS runs, each in a fresh process:"
for i in $(seq "$RUNS"); do
	"$tmp/bench.test" -test.run '^TestRatio$' -test.v -ratio | grep -E 'wall|FAIL' | sed 's/^ *ratio_test.go:[0-9]*: /  /' | tee -a "$tmp/ratio"
done
echo
echo "Median wall ratio over the $RUNS runs (the number to compare with the target):"
awk '
/wall:/ {
	name = $1; for (i = 1; i <= NF; i++) if ($i == "ratio") { r = $(i + 1); break }
	n[name]++; v[name, n[name]] = r
	for (i = 1; i <= NF; i++) if ($i == "≤") t[name] = $(i + 1)
}
END {
	for (name in n) {
		k = n[name]
		for (i = 1; i <= k; i++) a[i] = v[name, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		m = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		printf "  %-10s median %.3f  (min %.3f, max %.3f; target <= %s)\n", name, m, a[1], a[k], t[name]
	}
}' "$tmp/ratio"
fi

if [ "${ONESHOT:-1}" != 0 ]; then
	echo
	echo "One-shot mediator call against a bare go-sdk client (TestOneShotRatio):"
	go build -o "$tmp/bin/" ./cmd/mediator ./bench/bareclient ./bench/stdioserver
	"$tmp/bench.test" -test.run '^TestOneShotRatio$' -test.v -oneshot -oneshot.bin "$tmp/bin" | grep -E 'wall:|FAIL|SKIP' | sed 's/^ *oneshot_test.go:[0-9]*: /  /'
fi

if [ "${SERVE:-1}" != 0 ]; then
	echo
	echo "Through mediator serve --stdio against direct over loopback HTTP (TestServeRatio), $RUNS runs, each in a fresh process:"
	go build -o "$tmp/bin/" ./cmd/mediator ./bench/stdioserver ./bench/stdioproxy
	for i in $(seq "$RUNS"); do
		"$tmp/bench.test" -test.run '^TestServeRatio$' -test.v -serve -serve.bin "$tmp/bin" | grep -E 'wall:|FAIL|SKIP' | sed 's/^ *serve_test.go:[0-9]*: /  /' | tee -a "$tmp/serve"
	done
	echo
	echo "Median ratio over the $RUNS runs (serve-stdio is the number to compare with the target):"
	awk '
/ wall:/ {
	name = $1 " " $2; for (i = 1; i <= NF; i++) if ($i == "ratio") r = $(i + 1)
	if (!(name in n)) order[++names] = name
	n[name]++; v[name, n[name]] = r
}
END {
	for (o = 1; o <= names; o++) {
		name = order[o]; k = n[name]
		for (i = 1; i <= k; i++) a[i] = v[name, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		m = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		printf "  %-24s median %.3f  (min %.3f, max %.3f)%s\n", name, m, a[1], a[k], (name ~ /^serve-stdio/) ? "  target <= 1.50" : ""
	}
}' "$tmp/serve"
fi
