package graph_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/graph"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

const flow = `version: 1
name: rain
flows: [weather -> calendar]
steps:
  - id: forecast
    call: {server: weather, tool: get_forecast}
    with: {location: Oslo}
  - id: remind
    call: {server: calendar, tool: create_event}
    with: {title: '${ "Umbrella: \(.steps.forecast.result.location)" }'}
`

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.New(ios, "test", func(string) (string, bool) { return "", false })
	cmd := graph.NewCmdGraph(f, nil)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func write(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.flow.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGraph(t *testing.T) {
	path := write(t, flow)
	out, errOut, err := run(t, path)
	if err != nil || errOut != "" {
		t.Fatalf("err %v, stderr %q", err, errOut)
	}
	for _, want := range []string{"flowchart LR", `subgraph srv0 ["server: weather"]`, `n_forecast == "location → title" ==> n_remind`} {
		if !strings.Contains(out, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(t, "--format", "dot", path)
	if err != nil || !strings.Contains(out, `"forecast" -> "remind" [penwidth=2, label="weather → calendar\nlocation → title"];`) {
		t.Errorf("dot: %v\n%s", err, out)
	}
	out, _, err = run(t, "--format", "svg", path)
	if err != nil || !strings.HasPrefix(out, `<svg xmlns="http://www.w3.org/2000/svg"`) ||
		!strings.Contains(out, `data-step="forecast"`) || !strings.Contains(out, `<g class="edge edge-cross" data-from="forecast" data-to="remind">`) {
		t.Errorf("svg: %v\n%s", err, out)
	}
	if _, _, err := run(t, "--format", "png", path); cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "mermaid, dot and svg") {
		t.Errorf("--format png: %v", err)
	}
}

func TestGraphProblems(t *testing.T) {
	// Undeclared flow: still drawn, with a note.
	path := write(t, strings.Replace(flow, "flows: [weather -> calendar]\n", "", 1))
	out, errOut, err := run(t, path)
	if err != nil || !strings.Contains(out, "flowchart") || !strings.Contains(errOut, "note: "+path+" has 1 problem; `mediator validate "+path+"` lists them") {
		t.Errorf("err %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	// Does not parse: no graph, exit 2.
	path = write(t, "version: 1\nname: x\nsteps: [{id: a}]\n")
	out, errOut, err = run(t, path)
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage || out != "" || !strings.Contains(errOut, path+":3:9: steps[0]: step \"a\" does nothing") {
		t.Errorf("err %v\nstdout %q\nstderr %s", err, out, errOut)
	}
	if _, _, err := run(t, filepath.Join(t.TempDir(), "none.flow.yaml")); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("missing file: %v", err)
	}
}
