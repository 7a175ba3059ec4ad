package config

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// TemporalSecretServer is the keyring's server name under which
// temporal.codec_key_secret and temporal.tls.key_secret name their items.
const TemporalSecretServer = "temporal"

// DefaultTemporalNamespace is temporal.namespace's default.
const DefaultTemporalNamespace = "default"

type rawTemporal struct {
	HostPort        string `mapstructure:"host_port"`
	Namespace       string `mapstructure:"namespace"`
	CodecKeySecret  string `mapstructure:"codec_key_secret"`
	ScheduleToStart string `mapstructure:"schedule_to_start_timeout"`
	Limits          *struct {
		HistoryEvents *int   `mapstructure:"history_events"`
		HistoryBytes  string `mapstructure:"history_bytes"`
		BatchItems    *int   `mapstructure:"batch_items"`
	} `mapstructure:"limits"`
	TLS *struct {
		CA         string `mapstructure:"ca"`
		Cert       string `mapstructure:"cert"`
		KeyFile    string `mapstructure:"key_file"`
		KeySecret  string `mapstructure:"key_secret"`
		ServerName string `mapstructure:"server_name"`
	} `mapstructure:"tls"`
}

var temporalSpec = &spec{kind: kObject, fields: map[string]*spec{
	"host_port":                 {kind: kString},
	"namespace":                 {kind: kString},
	"codec_key_secret":          {kind: kString},
	"schedule_to_start_timeout": {kind: kString},
	"limits": {kind: kObject, fields: map[string]*spec{
		"history_events": {kind: kInt},
		"history_bytes":  {kind: kString},
		"batch_items":    {kind: kInt},
	}},
	"tls": {kind: kObject, fields: map[string]*spec{
		"ca":          {kind: kString},
		"cert":        {kind: kString},
		"key_file":    {kind: kString},
		"key_secret":  {kind: kString},
		"server_name": {kind: kString},
	}},
}, wrong: map[string]string{
	"codec_key": `a key is never written in the config: store it with "mediator secret set temporal NAME" (32 random bytes, hex or base64) and write codec_key_secret: NAME`,
	"address":   "the frontend's address is host_port: HOST:PORT",
}}

// domainNameRE is a domain's name: its queue is "mcp.<name>".
var domainNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// buildEngine checks engine, temporal and domains and copies them into
// cfg, reporting each problem at its field.
func (w *walker) buildEngine(raw *rawFile, cfg *Config) {
	engines := []string{EngineLocal, EngineTemporal}
	cfg.Engine = strings.ToLower(raw.Engine)
	switch {
	case cfg.Engine == "":
		cfg.Engine = EngineLocal
	case !slices.Contains(engines, cfg.Engine):
		w.at("engine", "%q is not an engine%s; valid: %s", raw.Engine, suggest.Hint(raw.Engine, engines), strings.Join(engines, ", "))
	}
	w.buildTemporal(raw.Temporal, cfg)
	w.buildDomains(raw.Domains, cfg)
}

func (w *walker) buildTemporal(raw rawTemporal, cfg *Config) {
	const p = "temporal"
	t := Temporal{HostPort: raw.HostPort, Namespace: raw.Namespace, CodecKeySecret: raw.CodecKeySecret}
	if t.Namespace == "" {
		t.Namespace = DefaultTemporalNamespace
	}
	switch {
	case t.HostPort == "" && cfg.Engine == EngineTemporal && !w.reported(p+".host_port"):
		w.keyAt("engine", "engine: temporal needs temporal.host_port: the cluster's frontend as HOST:PORT, e.g. temporal.example.com:7233")
	case t.HostPort != "":
		if _, _, err := net.SplitHostPort(t.HostPort); err != nil {
			w.at(p+".host_port", "%q is not HOST:PORT, e.g. localhost:7233", t.HostPort)
		}
	}
	if raw.ScheduleToStart != "" {
		t.ScheduleToStartTimeout = w.duration(p+".schedule_to_start_timeout", raw.ScheduleToStart)
	}
	if rl := raw.Limits; rl != nil {
		if rl.HistoryEvents != nil {
			if t.Limits.HistoryEvents = *rl.HistoryEvents; t.Limits.HistoryEvents < 1 {
				w.at(p+".limits.history_events", "must be at least 1, got %d; it is the namespace's history count limit (Temporal's default 51200)", t.Limits.HistoryEvents)
			}
		}
		if rl.HistoryBytes != "" {
			t.Limits.HistoryBytes = w.size(p+".limits.history_bytes", rl.HistoryBytes)
		}
		if rl.BatchItems != nil {
			if t.Limits.BatchItems = *rl.BatchItems; t.Limits.BatchItems < 1 {
				w.at(p+".limits.batch_items", "must be at least 1, got %d; it is the most items of a for_each one child workflow runs (default 1000)", t.Limits.BatchItems)
			}
		}
	}
	if t.CodecKeySecret != "" {
		if err := credentials.ValidateName("codec_key_secret", t.CodecKeySecret); err != nil {
			w.at(p+".codec_key_secret", "%v", err)
		}
	}
	if rt := raw.TLS; rt != nil {
		tls := &TemporalTLS{CA: rt.CA, Cert: rt.Cert, KeyFile: rt.KeyFile, KeySecret: rt.KeySecret, ServerName: rt.ServerName}
		if tls.CA != "" {
			tls.CA = w.absPath(p+".tls.ca", tls.CA)
		}
		if tls.Cert != "" || tls.KeyFile != "" || tls.KeySecret != "" {
			w.certAndKey(p+".tls", TemporalSecretServer, &tls.Cert, &tls.KeyFile, tls.KeySecret)
		}
		t.TLS = tls
	}
	cfg.Temporal = t
}

// buildDomains checks that every domain names configured servers, that no
// server is in two, and that no domain takes the name of a server outside
// it (a server in no domain is a domain of its own, named after it).
func (w *walker) buildDomains(raw map[string][]string, cfg *Config) {
	if len(raw) == 0 {
		return
	}
	names := cfg.ServerNames()
	owner := map[string]string{}
	domains := map[string][]string{}
	for _, d := range slices.Sorted(maps.Keys(raw)) {
		p := "domains." + d
		if !domainNameRE.MatchString(d) {
			w.keyAt(p, "%q is not a domain name: use letters, digits, - and _ (its workers poll the queue mcp.%s)", d, d)
			continue
		}
		if len(raw[d]) == 0 {
			w.at(p, "lists no servers; give the servers whose credentials its workers hold, e.g. [stripe, ledger]")
			continue
		}
		for i, s := range raw[d] {
			f := fmt.Sprintf("%s[%d]", p, i)
			switch {
			case !slices.Contains(names, s):
				w.at(f, "no server is named %q%s; configured: %s", s, suggest.Hint(s, names), strings.Join(names, ", "))
			case owner[s] != "":
				w.at(f, "%s is already in domain %s; a server's credentials live in one domain", s, owner[s])
			default:
				owner[s] = d
				domains[d] = append(domains[d], s)
			}
		}
	}
	for d := range domains {
		if slices.Contains(names, d) && owner[d] != d {
			w.keyAt("domains."+d, "%s is also a server's name, and that server is not in this domain; a server in no domain is a domain of its own under its name, so name this domain otherwise", d)
			delete(domains, d)
		}
	}
	cfg.Domains = domains
}
