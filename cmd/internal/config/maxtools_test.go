package config

import (
	"testing"

	"github.com/mediatorhq/mediator/orchestrator"
)

// max_tools caps a server's tools: the default when absent, a positive
// whole number when given, and it reaches the orchestrator.
func TestMaxTools(t *testing.T) {
	cfg, _, err := load(t, "config.yaml", "servers:\n  a:\n    url: https://a.example.com\n  b:\n    url: https://b.example.com\n    max_tools: 2000\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cfg.Server("a")
	b, _ := cfg.Server("b")
	if a.MaxTools != orchestrator.DefaultMaxTools || b.MaxTools != 2000 {
		t.Errorf("MaxTools: a %d, b %d; want %d and 2000", a.MaxTools, b.MaxTools, orchestrator.DefaultMaxTools)
	}
	if sc := cfg.ServerConfigs("b"); len(sc) != 1 || sc[0].MaxTools != 2000 {
		t.Errorf("ServerConfigs(b) = %+v", sc)
	}

	const y = `servers:
  zero:
    url: https://a.example.com
    max_tools: 0
  negative:
    url: https://a.example.com
    max_tools: -5
  word:
    url: https://a.example.com
    max_tools: lots
  fraction:
    url: https://a.example.com
    max_tools: 1.5
  flag:
    url: https://a.example.com
    max_tools: true
  huge:
    url: https://a.example.com
    max_tools: 9223372036854775808
`
	_, path, err := load(t, "config.yaml", y, nil)
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:16: servers.zero.max_tools: must be at least 1, got 0; it caps how many tools mediator takes from the server (default 1000)`,
		`FILE:7:16: servers.negative.max_tools: must be at least 1, got -5; it caps how many tools mediator takes from the server (default 1000)`,
		`FILE:10:16: servers.word.max_tools: expected a whole number, e.g. 2000, got "lots"`,
		`FILE:13:16: servers.fraction.max_tools: expected a whole number, e.g. 2000, got 1.5`,
		`FILE:16:16: servers.flag.max_tools: expected a whole number, e.g. 2000, got a boolean`,
		`FILE:19:16: servers.huge.max_tools: 9223372036854775808 is not a whole number this mediator can hold`,
	})
}
