package config

import (
	"slices"
	"testing"
)

// resources and prompts filters and max_resource_bytes reach the
// orchestrator's server config.
func TestResourceAndPromptSettings(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com
    resources:
      allow: ["docs://**"]
      deny: ["docs://private/**"]
    prompts:
      deny: [internal-*]
    max_resource_bytes: 64MiB
  b:
    url: https://b.example.com
`
	cfg, _, err := load(t, "config.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	scs := cfg.ServerConfigs()
	a, b := scs[0], scs[1]
	if !slices.Equal(a.Resources.Allow, []string{"docs://**"}) || !slices.Equal(a.Resources.Deny, []string{"docs://private/**"}) ||
		!slices.Equal(a.Prompts.Deny, []string{"internal-*"}) || a.MaxResourceBytes != 64<<20 {
		t.Errorf("server a: %+v %+v %d", a.Resources, a.Prompts, a.MaxResourceBytes)
	}
	if b.MaxResourceBytes != 0 || b.Resources.Allow != nil {
		t.Errorf("server b: %+v %d", b.Resources, b.MaxResourceBytes)
	}
}

// Bad globs and sizes are reported at their line, naming the field and
// what would be valid.
func TestResourceAndPromptSettingsProblems(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com
    resources:
      allow: ["docs://[x"]
      deny: ["a/**/b"]
    prompts:
      allow: ["[z"]
    max_resource_bytes: lots
  b:
    url: https://b.example.com
    resources: [oops]
`
	_, path, err := load(t, "config.yaml", y, nil)
	ps := problems(t, err, path)
	for _, want := range []string{
		`FILE:5:15: servers.a.resources.allow[0]: "docs://[x" is not a valid glob; use * and ? (path.Match syntax), and ** only at the end to match the rest of a URI, e.g. "docs://handbook/**"`,
		`FILE:6:14: servers.a.resources.deny[0]: "a/**/b" is not a valid glob`,
		`FILE:8:15: servers.a.prompts.allow[0]: "[z" is not a valid glob; use * and ? (path.Match syntax), e.g. "summarize-*"`,
		`FILE:9:25: servers.a.max_resource_bytes: "lots" is not a size`,
		`FILE:12:16: servers.b.resources: expected a mapping`,
	} {
		if !slices.ContainsFunc(ps, func(p string) bool { return len(p) >= len(want) && p[:len(want)] == want }) {
			t.Errorf("no problem starting %q among:\n%v", want, ps)
		}
	}
}
