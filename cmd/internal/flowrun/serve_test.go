package flowrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows"
)

// ServeWorkflows validates workflow files as `mediator run` does under the
// config: its policy.flows make a file's flow valid, its servers are the
// only ones a file may call, and runs are journalled under its state
// directory with the Factory's redactor as it is at run time.
func TestServeWorkflows(t *testing.T) {
	state, home := t.TempDir(), t.TempDir()
	cfg, err := config.Parse("config.yaml", []byte(`
state_dir: `+state+`
servers:
  weather: {url: http://127.0.0.1:1/mcp}
  calendar: {url: http://127.0.0.1:2/mcp}
policy:
  flows: [weather -> calendar]
`), func(k string) (string, bool) {
		if k == "HOME" {
			return home, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Found = true
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("remind.flow.yaml", `version: 1
name: remind
steps:
  - id: f
    call: {server: weather, tool: get_forecast}
  - id: r
    call: {server: calendar, tool: create_event}
    with: {title: "${ .steps.f.result.summary }"}
`)
	write("mail.flow.yaml", "version: 1\nname: mail\nsteps:\n  - id: m\n    call: {server: mail, tool: send}\n")

	red := credentials.NewRedactor()
	env := Env{Policy: ConfigPolicy, Redactor: func() *credentials.Redactor { return red }}
	opts := ServeWorkflows(env, cfg, dir, nil)
	if opts.JournalPath != filepath.Join(state, workflows.JournalFile) || opts.Redactor() != red || !opts.TrustAnnotations("weather") {
		t.Errorf("options %+v", opts)
	}
	tools, err := serve.LoadWorkflowTools(t.Context(), opts)
	if len(tools) != 1 || tools[0].Tool.Name != "remind" {
		t.Errorf("tools %v, want remind (valid under policy.flows)", tools)
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "mail.flow.yaml")+":5:") || !strings.Contains(err.Error(), `"mail"`) {
		t.Errorf("the file calling an unconfigured server: %v", err)
	}
}
