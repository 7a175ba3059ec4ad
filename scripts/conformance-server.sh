#!/usr/bin/env bash
# Runs the server scenarios of the official MCP conformance suite
# (@modelcontextprotocol/conformance, pinned in testdata/conformance) twice,
# `--suite all` each time:
#   1. directly against the fixture, the go-sdk's conformance
#      everything-server (built from the module in go.mod), over streamable
#      HTTP;
#   2. through `mediator serve --http` fronting that same fixture as its one
#      server, unprefixed (serve: {prefix: false}).
# Writes a markdown table (scenario, direct, through mediator) to
# $OUT/summary.md and exits non-zero when a scenario that passes directly
# fails through mediator and testdata/conformance/expected-server-failures.yaml
# does not list it with the reason, when that baseline is stale, or when a
# scenario of `list --server` has no results.
#
# Environment:
#   OUT                where results and summary.md go
#                      (default conformance-results/server)
#   DIRECT_ONLY=1      score the fixture alone (no mediator run, no gate)
#   SCENARIO_TIMEOUT   per-scenario timeout in ms (default 15000)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/conformance-suite.sh
. "$root/scripts/conformance-suite.sh"
out=${OUT:-"$root/conformance-results/server"}
baseline="$suite_dir/expected-server-failures.yaml"
direct_only=${DIRECT_ONLY:-0}

rm -rf "$out"
mkdir -p "$out/bin" "$out/home"
start=$SECONDS
(cd "$root" && go build -o "$out/bin/" github.com/modelcontextprotocol/go-sdk/conformance/everything-server ./cmd/mediator)

pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

# free_port prints a loopback port nothing listens on, below the
# ephemeral range (where outgoing connections take their local ports, and
# a port no one listens on may still be taken). Another process can still
# bind it first: listen then tries another.
free_port() {
	local lo=32768 port
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	for _ in $(seq 50); do
		port=$((10000 + RANDOM % (lo - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	echo "conformance-server: no free loopback port found" >&2
	return 1
}

# wait_listening PORT PID waits until PORT accepts connections; it fails
# when the process PID exits first, or after 30 s.
wait_listening() {
	local port=$1 pid=$2
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# listen NAME LOG START runs START PORT (which starts NAME in the
# background, logging to LOG) on a free port until NAME listens there, at
# most 5 times (a port can be taken between the check and the bind), and
# sets port to that port.
listen() {
	local name=$1 log=$2 start=$3 pid
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$start" "$port"
		pid=$!
		if wait_listening "$port" "$pid"; then
			pids+=("$pid")
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		cat "$log" >>"$log.tries"
	done
	echo "conformance-server: $name did not listen after 5 tries (30 s each at most):" >&2
	cat "$log.tries" >&2
	return 1
}

# run_suite NAME URL scores one server with every server scenario.
run_suite() {
	local name=$1 url=$2
	# The suite exits 1 when any scenario fails, as some do against the
	# fixture itself; compare-server.mjs judges the results.
	"$node" "$cli" server --url "$url" --suite all --timeout "${SCENARIO_TIMEOUT:-15000}" -o "$out/$name" >"$out/suite-$name.log" 2>&1 || true
}

# The gate's own tests first: a broken comparison would pass anything.
if ! "$node" --test "$suite_dir/compare-server.test.mjs" >"$out/compare-server.test.log" 2>&1; then
	cat "$out/compare-server.test.log" >&2
	echo "conformance-server: the tests of compare-server.mjs fail" >&2
	exit 1
fi

# Scenario names of `list --server`: "  - name [versions]".
"$node" "$cli" list --server | sed -n 's/^  - \([^ ]*\).*/\1/p' >"$out/scenarios.txt"
if [ ! -s "$out/scenarios.txt" ]; then
	echo "conformance-server: the suite listed no server scenarios" >&2
	exit 1
fi

# The fixture is stateful (-stateless=false), as the go-sdk's own
# scripts/server-conformance.sh runs it: sampling and elicitation from a
# server need a session.
start_fixture() {
	"$out/bin/everything-server" -http="127.0.0.1:$1" -stateless=false >"$out/fixture.log" 2>&1 &
}
listen fixture "$out/fixture.log" start_fixture
fixture_port=$port

run_suite direct "http://127.0.0.1:$fixture_port/"

if [ "$direct_only" = 1 ]; then
	echo "conformance-server: DIRECT_ONLY=1: the fixture alone, no run through mediator" >&2
else
	home="$out/home"
	start_mediator() {
		write_config "$1"
		env -i PATH="$PATH" HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_STATE_HOME="$home/state" \
			MEDIATOR_KEYRING_PASSPHRASE=conformance-server \
			"$out/bin/mediator" --config "$home/config.yaml" serve --http >"$out/mediator-serve.log" 2>&1 &
	}
	write_config() {
		cat >"$home/config.yaml" <<CONFIG
credentials:
  backend: file
  file_dir: $home/keyring
servers:
  fixture:
    url: http://127.0.0.1:$fixture_port/
    # The suite's client answers sampling itself: let the fixture's
    # requests through to it (the default, deny, would refuse them).
    sampling: allow
serve:
  tools: gateway
  servers: [fixture]
  prefix: false
  http:
    listen: 127.0.0.1:$1
    auth: none
CONFIG
	}
	listen "mediator serve --http" "$out/mediator-serve.log" start_mediator
	run_suite mediator "http://127.0.0.1:$port/mcp"
fi

summary="$out/summary.md"
version=$("$node" -p "require('$suite_dir/node_modules/@modelcontextprotocol/conformance/package.json').version")
{
	echo "# Server conformance: @modelcontextprotocol/conformance $version"
	echo
	echo "Fixture: go-sdk $(cd "$root" && go list -m -f '{{.Version}}' github.com/modelcontextprotocol/go-sdk) conformance/everything-server (stateful streamable HTTP); through mediator: \`mediator serve --http\` fronting it (gateway, one server, unprefixed); $(wc -l <"$out/scenarios.txt") server scenarios listed (\`--suite all\`); $(date -u +%Y-%m-%dT%H:%MZ)."
	echo
} >"$summary"
status=0
mediator_results="$out/mediator"
[ "$direct_only" = 1 ] && mediator_results=-
if ! "$node" "$suite_dir/compare-server.mjs" "$out/direct" "$mediator_results" "$baseline" "$out/scenarios.txt" "$summary"; then
	echo "conformance-server: unexpected results (see $summary)" >&2
	status=1
fi
echo "Total time: $((SECONDS - start)) s (builds included)." >>"$summary"

cat "$summary"
exit $status
