package commands_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// `call SERVER TOOL -a <TAB>` completes the argument names from the
// tool's input schema (with their types and descriptions), nested names
// after a dot, and an enum's values after the "=".
func TestCompletionOfArgumentNames(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "forecasts", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "forecast", Description: "A forecast", InputSchema: map[string]any{
		"type":     "object",
		"required": []any{"city"},
		"properties": map[string]any{
			"city":  map[string]any{"type": "string", "description": "City name\nsecond line"},
			"unit":  map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
			"where": map[string]any{"type": "object", "properties": map[string]any{"lat": map[string]any{"type": "number"}, "lon": map[string]any{"type": "number"}}},
		},
	}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(srv.Close)
	e := newTestEnv(t)
	e.writeConfig("servers:\n  w:\n    url: " + srv.URL + "\n")

	// 6: no space after the completion, no file names.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", ""}, "city=\tstring, required: City name\nunit=\tstring\nwhere=\tobject\n:6\n"},
		{[]string{"-a", "city=Oslo", "-a", ""}, "unit=\tstring\nwhere=\tobject\n:6\n"},
		{[]string{"-a", "where."}, "where.lat=\tnumber\nwhere.lon=\tnumber\n:6\n"},
		{[]string{"-a", "unit="}, "unit=celsius\nunit=fahrenheit\n:4\n"},
		{[]string{"--arg", "ci"}, "city=\tstring, required: City name\nunit=\tstring\nwhere=\tobject\n:6\n"},
	} {
		args := append([]string{"__complete", "call", "w", "forecast"}, tc.args...)
		r := e.mustRun("", args...)
		if !strings.HasPrefix(r.stdout, tc.want) {
			t.Errorf("%v:\n%q\nwant\n%q", tc.args, r.stdout, tc.want)
		}
	}
	r := e.mustRun("", "__complete", "call", "w", "nosuch", "-a", "")
	if !strings.HasPrefix(r.stdout, ":4\n") {
		t.Errorf("unknown tool: %q", r.stdout)
	}
}

// Run ids complete for `runs show` (every run) and `resume` (only runs
// that can be resumed), newest first, with flow and status.
func TestCompletionOfRunIDs(t *testing.T) {
	e := callEnv(t)
	ok := filepath.Join(e.dir, "ok.flow.yaml")
	bad := filepath.Join(e.dir, "bad.flow.yaml")
	for p, tool := range map[string]string{ok: "echo", bad: "fail"} {
		with := ""
		if tool == "echo" {
			with = "    with: {text: hi}\n"
		}
		if err := os.WriteFile(p, []byte("version: 1\nname: "+tool+"\nsteps:\n  - id: a\n    call: {server: weather, tool: "+tool+"}\n"+with), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	okID := runID(t, e.mustRun("", "run", ok))
	failedID := runID(t, e.run("", "run", bad))

	r := e.mustRun("", "__complete", "runs", "show", "")
	if !strings.HasPrefix(r.stdout, failedID+"\tfail: failed") || !strings.Contains(r.stdout, "\n"+okID+"\techo: succeeded") || !strings.HasSuffix(r.stdout, ":36\n") {
		t.Errorf("runs show completion:\n%s", r.stdout)
	}
	r = e.mustRun("", "__complete", "resume", "")
	if !strings.HasPrefix(r.stdout, failedID+"\tfail: failed") || strings.Contains(r.stdout, okID) {
		t.Errorf("resume completion offers a finished run or lacks the failed one:\n%s", r.stdout)
	}
	r = e.mustRun("", "__complete", "runs", "show", okID, "")
	if !strings.HasPrefix(r.stdout, ":4\n") {
		t.Errorf("completion after the id: %q", r.stdout)
	}
}

// FLOW arguments complete with *.flow.yaml files (8: filter by extension).
func TestCompletionOfFlowFiles(t *testing.T) {
	e := newTestEnv(t)
	for _, cmd := range [][]string{{"run"}, {"validate"}, {"graph"}} {
		r := e.mustRun("", append(append([]string{"__complete"}, cmd...), "")...)
		if !strings.HasPrefix(r.stdout, "flow.yaml\nflow.yml\n:8\n") {
			t.Errorf("%s: %q", cmd[0], r.stdout)
		}
		r = e.mustRun("", append(append([]string{"__complete"}, cmd...), "x.flow.yaml", "")...)
		if !strings.HasPrefix(r.stdout, ":4\n") {
			t.Errorf("%s after FLOW: %q", cmd[0], r.stdout)
		}
	}
}
