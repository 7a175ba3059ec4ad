package commands_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// goTool is the go command, which these tests need (in CI they fail
// without it).
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// mediator never links Temporal's SDK (it costs every command's start-up,
// docs/scale.md); mediator-temporal does.
func TestOnlyMediatorTemporalLinksTemporal(t *testing.T) {
	gobin := goTool(t)
	temporalDeps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var found []string
		for _, p := range strings.Fields(string(out)) {
			if strings.HasPrefix(p, "go.temporal.io/") || p == "github.com/mediatorhq/mediator/workflows/temporal" {
				found = append(found, p)
			}
		}
		return found
	}
	if found := temporalDeps("github.com/mediatorhq/mediator/cmd/mediator"); len(found) > 0 {
		t.Errorf("cmd/mediator links %d Temporal packages, among them %s", len(found), strings.Join(found[:min(5, len(found))], ", "))
	}
	if found := temporalDeps("github.com/mediatorhq/mediator/cmd/mediator-temporal"); len(found) == 0 {
		t.Error("cmd/mediator-temporal links no Temporal package")
	}
}
