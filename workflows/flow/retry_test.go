package flow

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

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
	readOnly := &mcpToolAnnotations{ReadOnlyHint: true}
	idem := &mcpToolAnnotations{IdempotentHint: true}
	for _, tc := range []struct {
		step string
		ann  *mcpToolAnnotations
		want string
	}{
		{"plain", nil, `step "plain" may call s.t up to 3 times (defaults.retry)`},
		{"plain", &mcpToolAnnotations{}, "not known to be read-only or idempotent"},
		{"plain", readOnly, ""},
		{"plain", idem, ""},
		{"keyed", nil, ""},
		{"unsafe", nil, ""},
		{"once", nil, ""},
		{"own", nil, "up to 5 times (its retry)"},
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
	}
}

type mcpToolAnnotations = mcp.ToolAnnotations

// TestOfflineRetrySafety: without a Catalog, annotations are unknown, so
// every call that may be repeated must vouch for it itself.
func TestOfflineRetrySafety(t *testing.T) {
	runProblemCases(t, []problemCase{{name: "defaults and own retry", src: header + `defaults:
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
`, want: []string{
		"7:11 steps[0].call: cannot tell offline whether s.t is read-only or idempotent; add idempotency_key, retry_unsafe: true, or run validate --connect",
		"19:5 steps[4].retry: cannot tell offline whether s.u is read-only",
	}}})
}
