package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Without engine or temporal, flows run locally and nothing about
// Temporal is needed; with them, the blocks load with their defaults.
func TestEngineLoads(t *testing.T) {
	cfg, err := Parse("/etc/m/config.yaml", []byte(serveServers), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Engine != EngineLocal || cfg.Temporal.TLS != nil || cfg.Domains != nil {
		t.Errorf("defaults: engine %q, temporal %+v, domains %v", cfg.Engine, cfg.Temporal, cfg.Domains)
	}
	src := serveServers + `  mail: {url: "https://mail.example/mcp"}
engine: temporal
temporal:
  host_port: temporal.example:7233
  codec_key_secret: codec-2026
  schedule_to_start_timeout: 90s
  limits: {history_events: 100000, history_bytes: 100MiB, batch_items: 500}
  tls: {ca: ca.pem, cert: c.crt, key_secret: client-key, server_name: temporal.internal}
domains:
  office: [calendar, mail]
`
	cfg, err = Parse("/etc/m/config.yaml", []byte(src), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Temporal{HostPort: "temporal.example:7233", Namespace: DefaultTemporalNamespace, CodecKeySecret: "codec-2026", ScheduleToStartTimeout: 90 * time.Second,
		Limits: TemporalLimits{HistoryEvents: 100000, HistoryBytes: 100 << 20, BatchItems: 500},
		TLS:    &TemporalTLS{CA: "/etc/m/ca.pem", Cert: "/etc/m/c.crt", KeySecret: "client-key", ServerName: "temporal.internal"}}
	if cfg.Engine != EngineTemporal || !reflect.DeepEqual(cfg.Temporal, want) {
		t.Errorf("engine %q, temporal %+v (tls %+v)", cfg.Engine, cfg.Temporal, cfg.Temporal.TLS)
	}
	if !reflect.DeepEqual(cfg.Domains, map[string][]string{"office": {"calendar", "mail"}}) {
		t.Errorf("domains = %v", cfg.Domains)
	}
}

func TestEngineProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"engine", "engine: temporl\n", `c.yaml:1:9: engine: "temporl" is not an engine (did you mean "temporal"?); valid: local, temporal`},
		{"no host_port", "engine: temporal\n", `c.yaml:1:1: engine: engine: temporal needs temporal.host_port`},
		{"host_port", "temporal: {host_port: temporal.example}\n", `c.yaml:1:23: temporal.host_port: "temporal.example" is not HOST:PORT`},
		{"inline key", "temporal: {host_port: t:7233, codec_key: abc}\n", `c.yaml:1:31: temporal.codec_key: a key is never written in the config`},
		{"schedule", "temporal: {host_port: t:7233, schedule_to_start_timeout: soon}\n", `temporal.schedule_to_start_timeout: "soon" is not a duration`},
		{"limits events", "temporal: {host_port: t:7233, limits: {history_events: 0}}\n", `temporal.limits.history_events: must be at least 1, got 0`},
		{"limits bytes", "temporal: {host_port: t:7233, limits: {history_bytes: lots}}\n", `temporal.limits.history_bytes:`},
		{"limits field", "temporal: {host_port: t:7233, limits: {events: 10}}\n", `temporal.limits.events: unknown field`},
		{"tls key", "temporal: {host_port: t:7233, tls: {cert: c.crt}}\n", `temporal.tls: the private key is not named`},
		{"unknown server", "domains:\n  office: [calender]\n", `c.yaml:2:12: domains.office[0]: no server is named "calender" (did you mean "calendar"?)`},
		{"twice", "domains:\n  a: [weather]\n  b: [weather]\n", `c.yaml:3:7: domains.b[0]: weather is already in domain a`},
		{"empty", "domains:\n  office: []\n", `domains.office: lists no servers`},
		{"server's name", "domains:\n  weather: [calendar]\n", `c.yaml:2:3: domains.weather: weather is also a server's name`},
		{"not a list", "domains:\n  office: calendar\n", `c.yaml:2:11: domains.office: expected a list`},
	} {
		_, err := Parse("c.yaml", []byte(serveServers+tc.src), homeEnv)
		want := shiftLines(tc.want, strings.Count(serveServers, "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.name, err, want)
		}
	}
}

// A domain of one server may carry that server's name.
func TestDomainNamedAfterItsServer(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(serveServers+"domains:\n  weather: [weather]\n"), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Domains, map[string][]string{"weather": {"weather"}}) {
		t.Errorf("domains = %v", cfg.Domains)
	}
}

// The keyring items of the temporal block are under the server name
// temporal, which no server may take.
func TestTemporalNameReserved(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(serveServers+"  temporal: {url: \"https://x.example/mcp\"}\n"), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Server("temporal")
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), `the server name "temporal" is reserved`) {
		t.Errorf("a server named temporal: %v", err)
	}
}
