package config

import (
	"errors"
	"strings"
	"testing"
)

// One server's unset variable (or any problem in its entry) is that
// server's: the config loads, the others can be used, and the problem is
// kept for whoever needs the server and for config validate.
func TestServerProblemsStayWithTheirServer(t *testing.T) {
	const y = `servers:
  good:
    url: https://good.example.com/mcp
  vars:
    command: srv
    env: {DATA_DIR: "${MY_UNSET_VAR}"}
  typo:
    url: https://typo.example.com/mcp
    timout: 30s
policy:
  trust_annotations: [vars]
`
	p := writeFile(t, "config.yaml", y)
	cfg, err := Load(LoadOptions{Path: p, Explicit: true, Env: mapEnv(map[string]string{"HOME": "/home/u"})})
	if err != nil {
		t.Fatalf("a server's problem made the whole config fail: %v", err)
	}
	if got := strings.Join(cfg.ServerNames(), ","); got != "good,typo,vars" {
		t.Errorf("servers %s: a server with problems is still configured", got)
	}
	if got := cfg.ServerConfigs(); len(got) != 1 || got[0].Name != "good" {
		t.Errorf("the orchestrator would get %+v; want only good", got)
	}
	if got := cfg.ServerConfigs("vars"); len(got) != 0 {
		t.Errorf("a server with problems was converted: %+v", got)
	}
	good, _ := cfg.Server("good")
	if good.Err() != nil {
		t.Errorf("good: %v", good.Err())
	}
	vars, _ := cfg.Server("vars")
	var se *ServerError
	if err := vars.Err(); !errors.As(err, &se) || se.Server != "vars" || len(se.Problems) != 1 ||
		!strings.Contains(err.Error(), "config.yaml:6:21: servers.vars.env.DATA_DIR: environment variable MY_UNSET_VAR is not set") {
		t.Errorf("vars: %v", err)
	}
	var ps Problems
	if !errors.As(vars.Err(), &ps) {
		t.Error("a server's error does not unwrap to its Problems (exit code 2)")
	}
	all := cfg.Problems()
	if len(all) != 2 || all[0].Field != "servers.vars.env.DATA_DIR" || all[1].Field != "servers.typo.timout" {
		t.Errorf("Problems() = %v", all)
	}
}

// A problem outside the servers' entries leaves nothing usable, and then
// every problem is reported, the servers' too.
func TestFileProblemsStillFailTheWholeConfig(t *testing.T) {
	base := "servers:\n  good:\n    url: https://good.example.com/mcp\n  vars:\n    command: srv\n    env: {DATA_DIR: \"${MY_UNSET_VAR}\"}\n"
	for name, tc := range map[string]struct{ extra, want string }{
		"policy":       {"policy:\n  trust_annotations: [nope]\n", "policy.trust_annotations[0]: unknown server"},
		"credentials":  {"credentials: {backend: nope}\n", "credentials.backend: unknown backend"},
		"bad name":     {"", "servers.bad.name: server name"},
		"case clash":   {"", `"Good" and "good"`},
		"state_dir":    {"state_dir: ${STATE}\n", "state_dir: environment variable STATE is not set"},
		"servers kind": {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			y := base + tc.extra
			switch name {
			case "bad name":
				y += "  bad.name: {url: https://x.example.com}\n"
			case "case clash":
				y = strings.Replace(y, "servers:\n", "servers:\n  Good: {url: https://g.example.com}\n", 1)
			case "servers kind":
				y, tc.want = "servers: [a, b]\n", "servers: expected a mapping"
			}
			_, err := Parse("/etc/m/config.yaml", []byte(y), mapEnv(map[string]string{"HOME": "/home/u"}))
			var ps Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want Problems with %q, got %v", tc.want, err)
			}
			if name != "servers kind" && !strings.Contains(err.Error(), "MY_UNSET_VAR") {
				t.Errorf("the servers' problems are not reported with the file's:\n%v", err)
			}
		})
	}
}
