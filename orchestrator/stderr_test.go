package orchestrator_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Each stdio server's stderr goes to its own ServerConfig.Stderr when set,
// else to Options.Stderr, so a front end can label each server's lines.
func TestServerStderr(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	var own, shared bytes.Buffer
	// Not MCP servers: each says who it is on stderr and exits, which is
	// all this needs.
	say := func(name string) connectors.Config {
		return connectors.Config{Name: name, Command: sh, Args: []string{"-c", "echo i am " + name + " >&2"}, Timeout: 10 * time.Second}
	}
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{
			{Config: say("one"), Stderr: &own},
			{Config: say("two")},
		},
		Stderr: &shared,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o.Connect(ctx) // fails: neither speaks MCP
	if err := o.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if got := own.String(); !strings.Contains(got, "i am one") || strings.Contains(got, "i am two") {
		t.Errorf("server one's stderr: %q", got)
	}
	if got := shared.String(); !strings.Contains(got, "i am two") || strings.Contains(got, "i am one") {
		t.Errorf("Options.Stderr: %q", got)
	}
}
