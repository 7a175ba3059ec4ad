package flow

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestRetrySafety: a step's own retry on a tool not known to be safe to
// repeat is an error; defaults.retry never is, and RetryLimit holds such a
// call to one attempt whichever asked for more.
func TestRetrySafety(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`defaults:
  retry: {max_attempts: 3}
steps:
  - id: plain
    call: {server: s, tool: t}
  - id: keyed
    call: {server: s, tool: t}
    idempotency_key: ${ "k" }
  - id: unsafe
    call: {server: s, tool: t}
    retry_unsafe: true
  - id: once
    call: {server: s, tool: t}
    retry: {max_attempts: 1}
  - id: own
    call: {server: s, tool: t}
    retry: {max_attempts: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true}
	idem := &mcp.ToolAnnotations{IdempotentHint: true}
	for _, tc := range []struct {
		step     string
		ann      *mcp.ToolAnnotations
		want     string // CheckRetrySafety's error
		attempts int
		held     string // RetryLimit's reason
	}{
		{"plain", nil, "", 1, `s.t is not known to be read-only or idempotent and step "plain" has neither idempotency_key nor retry_unsafe, so it is called once although defaults.retry allows 3 attempts`},
		{"plain", &mcp.ToolAnnotations{}, "", 1, "defaults.retry allows 3"},
		{"plain", readOnly, "", 3, ""},
		{"plain", idem, "", 3, ""},
		{"keyed", nil, "", 3, ""},
		{"unsafe", nil, "", 3, ""},
		{"once", nil, "", 1, ""},
		{"own", nil, `step "own" may call s.t up to 5 times (its retry), but the tool is not known to be read-only or idempotent`, 1, "its retry allows 5"},
		{"own", readOnly, "", 5, ""},
	} {
		var step *Step
		for _, s := range f.Steps {
			if s.ID == tc.step {
				step = s
			}
		}
		err := f.CheckRetrySafety(step, tc.ann)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.step, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.step, err, tc.want)
		}
		n, held := f.RetryLimit(step, tc.ann)
		if n != tc.attempts {
			t.Errorf("%s: RetryLimit = %d attempts, want %d", tc.step, n, tc.attempts)
		}
		switch {
		case tc.held == "" && held != nil:
			t.Errorf("%s: held: %v", tc.step, held)
		case tc.held != "" && (held == nil || !strings.Contains(held.Error(), tc.held)):
			t.Errorf("%s: held = %v, want %q", tc.step, held, tc.held)
		}
	}
}

// TestOfflineRetrySafety: without a Catalog annotations are unknown, so a
// step's own retry is left to --connect and the engine with a warning, and
// defaults.retry is not questioned at all.
func TestOfflineRetrySafety(t *testing.T) {
	src := header + `defaults:
  retry: {max_attempts: 3}
steps:
  - id: plain
    call: {server: s, tool: t}
  - id: keyed
    call: {server: s, tool: t}
    idempotency_key: ${ "k" }
  - id: unsafe
    call: {server: s, tool: t}
    retry_unsafe: true
  - id: once
    call: {server: s, tool: t}
    retry: {max_attempts: 1}
  - id: own
    call: {server: s, tool: u}
    retry: {max_attempts: 5}
`
	runProblemCases(t, []problemCase{
		{name: "offline", src: src, want: []string{
			"19:5 steps[4].retry: whether s.u may be called up to 5 times depends on its annotations, which offline validation cannot see: validate --connect checks them, and run calls it once",
		}},
		{name: "about to run", src: src, opts: ValidateOptions{RetryAtRunTime: true}},
	})
	_, probs := Check(context.Background(), "f.flow.yaml", []byte(src), ValidateOptions{})
	if len(probs.Errors()) != 0 || len(probs.Warnings()) != 1 {
		t.Fatalf("want one warning and no error, got:\n%v", probs)
	}
}
