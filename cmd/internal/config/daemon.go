package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/serve"
)

// DefaultDaemonListen is where `mediator daemon` serves HTTP unless
// daemon.listen or --listen says otherwise: loopback only.
const DefaultDaemonListen = "127.0.0.1:7420"

// DefaultMaxConcurrentRuns bounds the daemon's runs in progress unless
// daemon.max_concurrent_runs says otherwise: the run manager's default.
const DefaultMaxConcurrentRuns = daemon.DefaultMaxConcurrentRuns

// Daemon is the daemon block: what `mediator daemon` serves and runs.
type Daemon struct {
	Listen string
	// Socket is the local socket's path (absolute); "" is the default
	// under the state directory.
	Socket string
	// WorkflowsDir holds the workflow files the daemon runs (absolute).
	WorkflowsDir string
	Schedules    []daemon.Schedule
	// Tokens reach the /v1 API; each holds only workflow globs.
	Tokens            []serve.Token
	TLS               DaemonTLS
	MaxConcurrentRuns int
	// Tracing is daemon.tracing, nil when absent.
	Tracing *DaemonTracing
}

// DaemonTLS is daemon.tls: the HTTP face's certificate and its key (a
// file, or a keyring item under DaemonSecretServer), the CA whose client
// certificates are accepted in place of a token, and the workflow globs
// those certificates reach (as a token's workflows: one scope for every
// certificate the CA signs; a client with another scope takes a token).
type DaemonTLS struct {
	Cert, KeyFile, KeySecret, ClientCA string
	ClientWorkflows                    []string
}

// DaemonSecretServer is the keyring's server name under which
// daemon.tls.key_secret names the private key.
const DaemonSecretServer = "daemon"

// DaemonOptions is the daemon block as the daemon package takes it: the
// one place it becomes plain options.
type DaemonOptions struct {
	Listen            string
	Socket            string
	WorkflowsDir      string
	Schedules         []daemon.Schedule
	Tokens            []serve.Token
	MaxConcurrentRuns int
}

// DaemonOptions maps the daemon block onto the daemon's options.
func (c *Config) DaemonOptions() DaemonOptions {
	d := c.Daemon
	return DaemonOptions{Listen: d.Listen, Socket: d.Socket, WorkflowsDir: d.WorkflowsDir,
		Schedules: slices.Clone(d.Schedules), Tokens: slices.Clone(d.Tokens), MaxConcurrentRuns: d.MaxConcurrentRuns}
}

type rawDaemon struct {
	Listen       string `mapstructure:"listen"`
	Socket       string `mapstructure:"socket"`
	WorkflowsDir string `mapstructure:"workflows_dir"`
	Schedules    []struct {
		Name     string `mapstructure:"name"`
		Workflow string `mapstructure:"workflow"`
		Cron     string `mapstructure:"cron"`
		Missed   string `mapstructure:"missed"`
	} `mapstructure:"schedules"`
	APITokens []rawToken `mapstructure:"api_tokens"`
	TLS       struct {
		Cert      string `mapstructure:"cert"`
		KeyFile   string `mapstructure:"key_file"`
		KeySecret string `mapstructure:"key_secret"`
		ClientCA  string `mapstructure:"client_ca"`
		// ClientWorkflows is nil when not written.
		ClientWorkflows []string `mapstructure:"client_workflows"`
	} `mapstructure:"tls"`
	MaxConcurrentRuns *int              `mapstructure:"max_concurrent_runs"`
	Tracing           *rawDaemonTracing `mapstructure:"tracing"`
}

const daemonTokenMsg = `a token is never written in the config: "mediator daemon token create NAME --workflows GLOB" prints one and the token_sha256 line to write`

var daemonSpec = &spec{kind: kObject, fields: map[string]*spec{
	"listen":        {kind: kString},
	"socket":        {kind: kString},
	"workflows_dir": {kind: kString},
	"schedules": {kind: kObjects, elem: &spec{kind: kObject, fields: map[string]*spec{
		"name":     {kind: kString},
		"workflow": {kind: kString},
		"cron":     {kind: kString},
		// Inputs never reach viper (which folds keys' case): the walker
		// keeps them as written (walker.anys).
		"inputs": {kind: kAnyMap},
		"missed": {kind: kString},
	}, wrong: map[string]string{"schedule": `the cron expression goes in cron:, e.g. cron: "0 6 * * *"`}}},
	"api_tokens": {kind: kObjects, elem: &spec{kind: kObject, fields: map[string]*spec{
		"name":         {kind: kString},
		"token_sha256": {kind: kString},
		"workflows":    {kind: kStrings},
	}, wrong: map[string]string{"token": daemonTokenMsg, "secret": daemonTokenMsg, "value": daemonTokenMsg,
		"tools": "a daemon token reaches workflows only: list them in workflows: [GLOB...]"}}},
	"tls": {kind: kObject, fields: map[string]*spec{
		"cert":             {kind: kString},
		"key_file":         {kind: kString},
		"key_secret":       {kind: kString},
		"client_ca":        {kind: kString},
		"client_workflows": {kind: kStrings},
	}, wrong: map[string]string{
		"key": `name the private key's file with key_file: FILE, or store it with "mediator secret set daemon NAME" and write key_secret: NAME; the key itself is never written in the config`,
	}},
	"max_concurrent_runs": {kind: kInt},
	"tracing":             daemonTracingSpec,
}}

// workflowNameRE is a workflow's name: its file's in workflows_dir
// without .flow.yaml.
var workflowNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// buildDaemon checks the daemon block and copies it into cfg, reporting
// each problem at its field.
func (w *walker) buildDaemon(raw rawDaemon, cfg *Config) {
	const p = "daemon"
	d := Daemon{Listen: raw.Listen, MaxConcurrentRuns: DefaultMaxConcurrentRuns,
		TLS: DaemonTLS{Cert: raw.TLS.Cert, KeyFile: raw.TLS.KeyFile, KeySecret: raw.TLS.KeySecret, ClientCA: raw.TLS.ClientCA,
			ClientWorkflows: raw.TLS.ClientWorkflows}}
	if d.Listen == "" {
		d.Listen = DefaultDaemonListen
	} else if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		w.at(p+".listen", "%q is not HOST:PORT, e.g. %s", d.Listen, DefaultDaemonListen)
	}
	if raw.Socket != "" {
		d.Socket = w.absPath(p+".socket", raw.Socket)
	}
	if raw.WorkflowsDir != "" {
		d.WorkflowsDir = w.absPath(p+".workflows_dir", raw.WorkflowsDir)
	}
	if raw.MaxConcurrentRuns != nil {
		if n := *raw.MaxConcurrentRuns; n < 1 {
			w.at(p+".max_concurrent_runs", "must be at least 1, got %d; it bounds the runs in progress at once (default %d)", n, DefaultMaxConcurrentRuns)
		} else {
			d.MaxConcurrentRuns = n
		}
	}
	w.buildDaemonSchedules(raw, &d)
	w.buildDaemonTokens(raw, &d)
	w.buildDaemonTLS(&d.TLS)
	w.buildDaemonTracing(raw.Tracing, &d)
	cfg.Daemon = d
}

func (w *walker) buildDaemonSchedules(raw rawDaemon, d *Daemon) {
	if len(raw.Schedules) > 0 && raw.WorkflowsDir == "" {
		w.keyAt("daemon.schedules", "schedules run workflow files of daemon.workflows_dir, which is not set; name the directory holding them, e.g. workflows_dir: ~/flows")
	}
	missed := make([]string, len(daemon.MissedPolicies))
	for i, m := range daemon.MissedPolicies {
		missed[i] = string(m)
	}
	names := map[string]int{}
	for i, rs := range raw.Schedules {
		field := fmt.Sprintf("daemon.schedules[%d]", i)
		s := daemon.Schedule{Name: rs.Name, Workflow: rs.Workflow, Cron: rs.Cron, Missed: daemon.Missed(rs.Missed)}
		if in, ok := w.anys[field+".inputs"].(map[string]any); ok {
			s.Inputs = in
		}
		switch {
		case rs.Workflow == "":
			w.keyAt(field, "workflow is not set: name the workflow file to run, without .flow.yaml, e.g. workflow: rain-reminders")
		case !workflowNameRE.MatchString(rs.Workflow):
			w.at(field+".workflow", "%q is not a workflow name: write the name of a file in daemon.workflows_dir without .flow.yaml (letters, digits, '_' and '-'), e.g. rain-reminders", rs.Workflow)
		}
		if s.Name == "" {
			s.Name = s.Workflow
		}
		if s.Name != "" {
			if first, dup := names[s.Name]; dup {
				at := field + ".name"
				if rs.Name == "" {
					at = field
				}
				w.keyAt(at, "schedule name %q is used twice (schedules[%d] and schedules[%d]); a schedule is known by its name (the workflow's unless name: is given) across restarts: give each its own name:", s.Name, first, i)
			} else {
				names[s.Name] = i
			}
			if rs.Name != "" && !workflowNameRE.MatchString(rs.Name) {
				w.at(field+".name", "%q is not a schedule name: use letters, digits, '_' and '-', e.g. morning-rain", rs.Name)
			}
		}
		if rs.Cron == "" {
			w.keyAt(field, `cron is not set: say when to run, e.g. cron: "0 6 * * *" (06:00 every day; minute hour day-of-month month day-of-week)`)
		} else if _, err := daemon.ParseCron(rs.Cron); err != nil {
			w.at(field+".cron", "%q is not a cron expression: %v; write five fields (minute hour day-of-month month day-of-week), e.g. \"0 6 * * *\", or @hourly, @daily, @weekly, @every 15m", rs.Cron, err)
		}
		if s.Missed == "" {
			s.Missed = daemon.MissedSkip
		} else if !slices.Contains(daemon.MissedPolicies, s.Missed) {
			w.at(field+".missed", "unknown value %q%s; valid: %s (what to do on start with fire times that passed while the daemon was down)", rs.Missed, suggest.Hint(rs.Missed, missed), strings.Join(missed, ", "))
		}
		d.Schedules = append(d.Schedules, s)
	}
}

func (w *walker) buildDaemonTokens(raw rawDaemon, d *Daemon) {
	names := map[string]int{}
	for i, rt := range raw.APITokens {
		field := fmt.Sprintf("daemon.api_tokens[%d]", i)
		t := serve.Token{Name: rt.Name, SHA256: strings.ToLower(rt.TokenSHA256), Workflows: rt.Workflows}
		switch {
		case rt.Name == "":
			w.keyAt(field, "name is not set: say whose token it is, e.g. name: ci")
		case names[rt.Name] > 0:
			w.at(field+".name", "token name %q is used twice (api_tokens[%d] and api_tokens[%d]); give each token its own", rt.Name, names[rt.Name]-1, i)
		default:
			names[rt.Name] = i + 1
		}
		if rt.TokenSHA256 == "" {
			w.keyAt(field, "token_sha256 is not set; `mediator daemon token create NAME --workflows GLOB` prints a token and its token_sha256")
		} else if err := serve.ValidateToken(serve.Token{Name: "x", SHA256: t.SHA256}); err != nil {
			w.at(field+".token_sha256", "%q is not a SHA-256 in hex (64 characters 0-9a-f); `mediator daemon token create %s --workflows GLOB` prints one", rt.TokenSHA256, orName(rt.Name))
		}
		for j, g := range t.Workflows {
			if err := serve.ValidateToken(serve.Token{Name: "x", SHA256: serve.HashToken(""), Workflows: []string{g}}); err != nil {
				w.at(fmt.Sprintf("%s.workflows[%d]", field, j), "%q is not a valid glob: %v; write e.g. rain-*", g, err)
			}
		}
		if len(t.Workflows) == 0 {
			w.keyAt(field, "token %q may run nothing: give workflows: [GLOB...] (e.g. [\"rain-*\"], or [\"*\"] for every workflow)", orName(rt.Name))
		}
		d.Tokens = append(d.Tokens, t)
	}
}

// buildDaemonTLS checks daemon.tls: a certificate and exactly one source
// of its key; client_ca alone is refused (client certificates need TLS),
// and needs client_workflows, the globs its certificates reach.
func (w *walker) buildDaemonTLS(t *DaemonTLS) {
	const p = "daemon.tls"
	if t.Cert == "" && t.KeyFile == "" && t.KeySecret == "" && t.ClientCA == "" && t.ClientWorkflows == nil {
		return
	}
	w.certAndKey(p, DaemonSecretServer, &t.Cert, &t.KeyFile, t.KeySecret)
	if t.ClientCA != "" {
		t.ClientCA = w.absPath(p+".client_ca", t.ClientCA)
	}
	for i, g := range t.ClientWorkflows {
		if err := serve.ValidateToken(serve.Token{Name: "x", SHA256: serve.HashToken(""), Workflows: []string{g}}); err != nil {
			w.at(fmt.Sprintf("%s.client_workflows[%d]", p, i), "%q is not a valid glob: %v; write e.g. rain-*", g, err)
		}
	}
	switch {
	case t.ClientCA != "" && len(t.ClientWorkflows) == 0 && !w.reported(p+".client_workflows"):
		w.keyAt(p, `client certificates may run nothing: give client_workflows: [GLOB...] with client_ca (e.g. ["rain-*"], or ["*"] for every workflow)`)
	case t.ClientCA == "" && t.ClientWorkflows != nil:
		w.keyAt(p+".client_workflows", "scopes the client certificates client_ca signs, but client_ca is not set: name the CA's PEM file, e.g. client_ca: /etc/mediator/clients.pem")
	}
}

// anyMap is the kAnyMap value: n as decoded YAML, kept by path.
func (w *walker) anyMap(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		w.badValue(n, path, "expected a mapping of name: value, e.g. {city: Paris, days: 3}, got %s", kindName(n))
		return
	}
	var v map[string]any
	if err := n.Decode(&v); err != nil {
		w.badValue(n, path, "%v", err)
		return
	}
	w.anys[path] = v
}
