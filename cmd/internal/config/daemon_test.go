package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/serve"
)

// The daemon block loads with its defaults and maps onto DaemonOptions in
// one place; schedule inputs keep their keys' case and their types.
func TestDaemonLoads(t *testing.T) {
	cfg, err := Parse("/etc/m/config.yaml", []byte(serveServers), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Daemon
	if d.Listen != DefaultDaemonListen || d.MaxConcurrentRuns != DefaultMaxConcurrentRuns || d.Socket != "" || len(d.Schedules) != 0 || !reflect.DeepEqual(d.TLS, DaemonTLS{}) {
		t.Errorf("defaults: %+v", d)
	}

	hash := serve.HashToken("mdt_x")
	src := serveServers + `daemon:
  listen: 0.0.0.0:7420
  socket: run/m.sock
  workflows_dir: flows
  max_concurrent_runs: 8
  schedules:
    - workflow: rain-reminders
      cron: "0 6 * * *"
      inputs: {City: Paris, days: 3, alerts: [rain, wind]}
      missed: run-once
    - {name: rain-evening, workflow: rain-reminders, cron: "@every 15m"}
  api_tokens:
    - name: ci
      token_sha256: ` + strings.ToUpper(hash) + `
      workflows: ["rain-*"]
  tls: {cert: d.crt, key_file: d.key, client_ca: ca.pem, client_workflows: ["rain-*", nightly]}
`
	cfg, err = Parse("/etc/m/config.yaml", []byte(src), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	d = cfg.Daemon
	if d.Listen != "0.0.0.0:7420" || d.Socket != "/etc/m/run/m.sock" || d.WorkflowsDir != "/etc/m/flows" || d.MaxConcurrentRuns != 8 {
		t.Errorf("daemon = %+v", d)
	}
	if !reflect.DeepEqual(d.TLS, DaemonTLS{Cert: "/etc/m/d.crt", KeyFile: "/etc/m/d.key", ClientCA: "/etc/m/ca.pem", ClientWorkflows: []string{"rain-*", "nightly"}}) {
		t.Errorf("tls = %+v", d.TLS)
	}
	o := cfg.DaemonOptions()
	if len(o.Schedules) != 2 || len(o.Tokens) != 1 || o.WorkflowsDir != d.WorkflowsDir || o.MaxConcurrentRuns != 8 {
		t.Fatalf("DaemonOptions = %+v", o)
	}
	s0, s1 := o.Schedules[0], o.Schedules[1]
	if s0.Name != "rain-reminders" || s0.Workflow != "rain-reminders" || s0.Cron != "0 6 * * *" || s0.Missed != daemon.MissedRunOnce {
		t.Errorf("schedule 0 = %+v", s0)
	}
	if s0.Inputs["City"] != "Paris" || s0.Inputs["days"] != 3 || len(s0.Inputs["alerts"].([]any)) != 2 {
		t.Errorf("inputs = %#v", s0.Inputs)
	}
	if s1.Name != "rain-evening" || s1.Missed != daemon.MissedSkip || s1.Inputs != nil {
		t.Errorf("schedule 1 = %+v", s1)
	}
	if tk := o.Tokens[0]; tk.Name != "ci" || tk.SHA256 != hash || tk.Workflows[0] != "rain-*" || tk.Tools != nil {
		t.Errorf("token = %+v", tk)
	}
}

// Every mistake in the block is reported at its FILE:LINE:COL with the
// field and what would be valid.
func TestDaemonProblems(t *testing.T) {
	h := serve.HashToken("x")
	sched := "daemon:\n  workflows_dir: flows\n  schedules:\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"listen", "daemon:\n  listen: 7420\n", `c.yaml:2:11: daemon.listen: "7420" is not HOST:PORT, e.g. 127.0.0.1:7420`},
		{"max runs", "daemon:\n  max_concurrent_runs: 0\n", `c.yaml:2:24: daemon.max_concurrent_runs: must be at least 1, got 0`},
		{"max runs not a number", "daemon:\n  max_concurrent_runs: many\n", `c.yaml:2:24: daemon.max_concurrent_runs: expected a whole number`},
		{"cron", sched + "    - {workflow: rain, cron: \"0 6 * *\"}\n", `c.yaml:4:30: daemon.schedules[0].cron: "0 6 * *" is not a cron expression: expected exactly 5 fields, found 4: [0 6 * *]; write five fields`},
		{"cron range", sched + "    - {workflow: rain, cron: \"61 * * * *\"}\n", `c.yaml:4:30: daemon.schedules[0].cron: "61 * * * *" is not a cron expression: end of range (61) above maximum (59)`},
		{"no cron", sched + "    - {workflow: rain}\n", `c.yaml:4:7: daemon.schedules[0]: cron is not set`},
		{"no workflow", sched + "    - {cron: \"@daily\"}\n", `c.yaml:4:7: daemon.schedules[0]: workflow is not set`},
		{"workflow path", sched + "    - {workflow: flows/rain.flow.yaml, cron: \"@daily\"}\n", `c.yaml:4:18: daemon.schedules[0].workflow: "flows/rain.flow.yaml" is not a workflow name`},
		{"missed", sched + "    - {workflow: rain, cron: \"@daily\", missed: run_once}\n", `c.yaml:4:48: daemon.schedules[0].missed: unknown value "run_once" (did you mean "run-once"?); valid: skip, run-once`},
		{"twice", sched + "    - {workflow: rain, cron: \"@daily\"}\n    - {workflow: rain, cron: \"@hourly\"}\n", `c.yaml:5:7: daemon.schedules[1]: schedule name "rain" is used twice (schedules[0] and schedules[1])`},
		{"inputs not a map", sched + "    - {workflow: rain, cron: \"@daily\", inputs: [a]}\n", `c.yaml:4:48: daemon.schedules[0].inputs: expected a mapping of name: value`},
		{"schedules without dir", "daemon:\n  schedules:\n    - {workflow: rain, cron: \"@daily\"}\n", `c.yaml:2:3: daemon.schedules: schedules run workflow files of daemon.workflows_dir, which is not set`},
		{"schedule field", sched + "    - {workflow: rain, schedule: \"@daily\"}\n", `c.yaml:4:24: daemon.schedules[0].schedule: the cron expression goes in cron:`},
		{"token inline", "daemon:\n  api_tokens:\n    - {name: ci, token: mdt_abc}\n", `c.yaml:3:18: daemon.api_tokens[0].token: a token is never written in the config`},
		{"token tools", "daemon:\n  api_tokens:\n    - {name: ci, token_sha256: " + h + ", tools: ['*']}\n", `daemon.api_tokens[0].tools: a daemon token reaches workflows only`},
		{"bad hash", "daemon:\n  api_tokens:\n    - {name: ci, token_sha256: abc, workflows: ['*']}\n", `c.yaml:3:32: daemon.api_tokens[0].token_sha256: "abc" is not a SHA-256 in hex`},
		{"no scope", "daemon:\n  api_tokens:\n    - {name: ci, token_sha256: " + h + "}\n", `daemon.api_tokens[0]: token "ci" may run nothing`},
		{"bad glob", "daemon:\n  api_tokens:\n    - {name: ci, token_sha256: " + h + ", workflows: ['[r']}\n", `daemon.api_tokens[0].workflows[0]: "[r" is not a valid glob`},
		{"token twice", "daemon:\n  api_tokens:\n    - {name: ci, token_sha256: " + h + ", workflows: ['*']}\n    - {name: ci, token_sha256: " + h + ", workflows: ['*']}\n", `daemon.api_tokens[1].name: token name "ci" is used twice`},
		{"tls without key", "daemon:\n  tls: {cert: d.crt}\n", `daemon.tls: the private key is not named`},
		{"tls key inline", "daemon:\n  tls: {cert: d.crt, key: abc}\n", `c.yaml:2:22: daemon.tls.key: name the private key's file with key_file`},
		{"client_ca without cert", "daemon:\n  tls: {client_ca: ca.pem, client_workflows: ['*']}\n", `daemon.tls: cert is not set`},
		{"client_ca unscoped", "daemon:\n  tls: {cert: d.crt, key_file: d.key, client_ca: ca.pem}\n", `c.yaml:2:3: daemon.tls: client certificates may run nothing: give client_workflows: [GLOB...] with client_ca`},
		{"client_ca scoped to none", "daemon:\n  tls: {cert: d.crt, key_file: d.key, client_ca: ca.pem, client_workflows: []}\n", `c.yaml:2:3: daemon.tls: client certificates may run nothing`},
		{"client_workflows without client_ca", "daemon:\n  tls: {cert: d.crt, key_file: d.key, client_workflows: ['*']}\n", `c.yaml:2:39: daemon.tls.client_workflows: scopes the client certificates client_ca signs, but client_ca is not set`},
		{"client_workflows bad glob", "daemon:\n  tls: {cert: d.crt, key_file: d.key, client_ca: ca.pem, client_workflows: [rain, '[r']}\n", `c.yaml:2:83: daemon.tls.client_workflows[1]: "[r" is not a valid glob`},
		{"client_workflows not a list", "daemon:\n  tls: {cert: d.crt, key_file: d.key, client_ca: ca.pem, client_workflows: rain}\n", `c.yaml:2:76: daemon.tls.client_workflows: expected a list`},
		{"unknown field", "daemon:\n  listn: x\n", `c.yaml:2:3: daemon.listn: unknown field (did you mean "listen"?)`},
	} {
		_, err := Parse("c.yaml", []byte(serveServers+tc.src), homeEnv)
		want := shiftLines(tc.want, strings.Count(serveServers, "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.name, err, want)
		}
	}
}

// The keyring item daemon.tls.key_secret names is under the server name
// daemon, which no server may take.
func TestDaemonNameReserved(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(serveServers+"  daemon: {url: \"https://x.example/mcp\"}\n"), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Server("daemon")
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), `the server name "daemon" is reserved`) {
		t.Errorf("a server named daemon: %v", err)
	}
}
