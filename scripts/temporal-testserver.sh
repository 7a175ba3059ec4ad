#!/usr/bin/env bash
# Builds the Temporal test server (workflows/temporal/testserver, a module
# of its own) once into the user's cache dir and prints the binary's path.
# The folder is named after a sha256 of the module's go.mod, go.sum and Go
# sources and of the Go version, so a change to any of them builds anew and
# an unchanged module costs nothing. The cold build takes minutes (the
# server is large); the Makefile's test target runs this first and passes
# the path to the tests as MEDIATOR_TEMPORAL_TESTSERVER.
#
# Environment:
#   XDG_CACHE_HOME  the cache dir's parent (default $HOME/.cache)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/workflows/temporal/testserver"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mediator-tools

sum=$(cd "$mod" && {
	go env GOVERSION
	find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -c1-16)
dir="$cache/temporal-testserver-$sum"
bin="$dir/temporal-testserver"

if [ ! -x "$bin" ]; then
	mkdir -p "$cache"
	# One build at a time (two test runs starting together): the second
	# waits for the first and then finds the binary there.
	exec 9>"$cache/temporal-testserver.lock"
	flock 9
	if [ ! -x "$bin" ]; then
		echo "building the Temporal test server into $dir (minutes the first time)" >&2
		tmp=$(mktemp -d "$cache/temporal-testserver-build.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		(cd "$mod" && go build -trimpath -o "$tmp/temporal-testserver" .)
		rm -rf "$dir"
		mv "$tmp" "$dir"
		trap - EXIT
	fi
fi
echo "$bin"
