package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
)

// sampling takes a mode or a mapping with caps; elicitation and roots
// reach the connector as written.
func TestHostFeatureSettings(t *testing.T) {
	dir := t.TempDir()
	y := `servers:
  a:
    url: https://a.example.com
    sampling: ask
    elicitation: deny
  b:
    command: srv
    sampling: {mode: allow, max_tokens: 500, models: [small, large]}
    roots: [` + dir + `]
  c:
    url: https://c.example.com
`
	cfg, _, err := load(t, "config.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]connectors.Config{}
	for _, sc := range cfg.ServerConfigs() {
		got[sc.Name] = sc.Config
	}
	if a := got["a"]; a.Sampling.Mode != "ask" || a.Elicitation != "deny" {
		t.Errorf("a: %+v %q", a.Sampling, a.Elicitation)
	}
	if b := got["b"]; b.Sampling.Mode != "allow" || b.Sampling.MaxTokens != 500 || !slices.Equal(b.Sampling.Models, []string{"small", "large"}) || !slices.Equal(b.Roots, []string{dir}) {
		t.Errorf("b: %+v roots %v", b.Sampling, b.Roots)
	}
	if c := got["c"]; c.Sampling.Mode != "" || c.Elicitation != "" || c.Roots != nil {
		t.Errorf("c: defaults are left to the connector, got %+v", c)
	}
}

// Bad settings are reported at the server with the field and what would
// be valid.
func TestHostFeatureSettingsProblems(t *testing.T) {
	dir := t.TempDir()
	y := `servers:
  a:
    url: https://a.example.com
    sampling: sometimes
  b:
    url: https://b.example.com
    elicitation: always
  c:
    command: srv
    roots: [relative/dir]
  d:
    command: srv
    roots: [` + filepath.Join(dir, "missing") + `]
  e:
    url: https://e.example.com
    sampling: [ask]
`
	_, path, err := load(t, "config.yaml", y, nil)
	ps := strings.Join(problems(t, err, path), "\n")
	for _, want := range []string{
		`servers.a: sampling.mode: unknown mode "sometimes" (valid: deny, ask, allow)`,
		`servers.b: elicitation: unknown setting "always" (valid: deny, ask)`,
		`servers.c: roots[0]: "relative/dir" is not an absolute path`,
		`servers.d: roots[0]: "` + filepath.Join(dir, "missing") + `"`,
		`servers.e.sampling: expected deny, ask or allow, or a mapping`,
	} {
		if !strings.Contains(ps, want) {
			t.Errorf("problems lack %q:\n%s", want, ps)
		}
	}
}
