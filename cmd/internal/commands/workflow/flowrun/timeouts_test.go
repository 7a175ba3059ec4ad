package flowrun

import (
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/workflows/flow"
)

func TestTimeoutWarnings(t *testing.T) {
	f, err := flow.Parse("t.flow.yaml", []byte(`version: 1
name: t
defaults:
  timeout: 45s
steps:
  - id: long
    call: {server: slow, tool: x}
    timeout: 2m
  - id: fits
    call: {server: slow, tool: x}
    timeout: 30s
  - id: inherits
    call: {server: quick, tool: x}
  - id: unknown
    call: {server: absent, tool: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Servers: []config.Server{{Name: "slow", Timeout: time.Minute}, {Name: "quick"}}}
	got := TimeoutWarnings(cfg, f)
	want := []string{
		`warning: t.flow.yaml:8:5: steps[0]: its timeout (2m0s) is longer than server "slow"'s timeout (1m0s), which ends every call to it first; raise servers.slow.timeout in the config to at least 2m0s`,
		`warning: t.flow.yaml:13:11: steps[2]: defaults.timeout (45s) is longer than server "quick"'s timeout (30s)`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
	if TimeoutWarnings(nil, f) != nil {
		t.Error("warnings without a config")
	}
}
