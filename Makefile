# The one test command (README Quick start, .ci/run): format check, vet, staticcheck,
# the real npm servers the tests talk to, the Temporal test server, every test
# with the race detector,
# then the official MCP conformance suite against cmd/conformance-client and,
# as a server, against `mediator serve`.
GO ?= go

.PHONY: test check fmt-check vet staticcheck tools build bench demo conformance conformance-server

# Modules of their own: test-only dependency graphs kept out of go.mod.
SUBMODULES := connectors/oauth/interop

# The Temporal runtime's tests start a real Temporal test server: built once
# into the user's cache (minutes the first time, seconds after), its path
# passed on in MEDIATOR_TEMPORAL_TESTSERVER.
test: check tools
	ts=$$(bash scripts/temporal-testserver.sh) && MEDIATOR_TEMPORAL_TESTSERVER=$$ts $(GO) test -race -count=1 ./...
	for m in $(SUBMODULES); do (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done
	$(MAKE) conformance
	$(MAKE) conformance-server

# Every client scenario of @modelcontextprotocol/conformance (Node 22 from npm),
# plus the 2025-11-25 and 2026-07-28 requirement sets; summary in
# conformance-results/summary.md.
conformance:
	bash scripts/conformance.sh

# Every server scenario of the same suite, directly against the go-sdk's
# conformance everything-server and through `mediator serve --http` fronting
# it; fails when one passes directly but not through mediator (unless
# testdata/conformance/expected-server-failures.yaml says why); summary in
# conformance-results/server/summary.md. Runs after `conformance`, which
# clears conformance-results/.
conformance-server:
	bash scripts/conformance-server.sh

check: fmt-check vet staticcheck

# staticcheck, built once per version and Go toolchain into the user's cache
# dir (a CI run is a fresh clone, so a folder inside it would not last).
STATICCHECK_VERSION := v0.8.2
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mediator-tools
STATICCHECK := $(TOOLS_CACHE)/staticcheck-$(STATICCHECK_VERSION)-$(shell $(GO) env GOVERSION)/staticcheck

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	for m in $(SUBMODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

# Real MCP servers from npm, installed into a git-ignored project folder.
tools: testdata/npm/node_modules/.installed

testdata/npm/node_modules/.installed: testdata/npm/package.json
	cd testdata/npm && npm install --no-audit --no-fund --loglevel=error
	touch $@

build:
	$(GO) build -o bin/ ./cmd/mediator ./cmd/mediator-temporal

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/...

demo:
	$(GO) run ./cmd/mediator demo
