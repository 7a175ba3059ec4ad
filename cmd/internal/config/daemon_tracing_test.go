package config

import (
	"strings"
	"testing"
)

// daemon.tracing loads its endpoint, header items and ratio; without the
// block tracing is off (nil).
func TestDaemonTracingLoads(t *testing.T) {
	cfg, err := Parse("/etc/m/config.yaml", []byte(serveServers), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Daemon.Tracing != nil {
		t.Errorf("tracing without the block: %+v", cfg.Daemon.Tracing)
	}
	src := serveServers + `daemon:
  tracing:
    endpoint: https://collector.example:4318
    secret_headers: {Authorization: otlp-key}
    sample_ratio: 0.25
`
	if cfg, err = Parse("/etc/m/config.yaml", []byte(src), homeEnv); err != nil {
		t.Fatal(err)
	}
	tr := cfg.Daemon.Tracing
	if tr == nil || tr.Endpoint != "https://collector.example:4318" || tr.SampleRatio != 0.25 || len(tr.SecretHeaders) != 1 {
		t.Fatalf("tracing = %+v", tr)
	}
	for h, item := range tr.SecretHeaders {
		if !strings.EqualFold(h, "Authorization") || item != "otlp-key" {
			t.Errorf("secret_headers = %v", tr.SecretHeaders)
		}
	}
	if cfg, err = Parse("/etc/m/config.yaml", []byte(serveServers+"daemon:\n  tracing: {endpoint: \"http://127.0.0.1:4318\"}\n"), homeEnv); err != nil || cfg.Daemon.Tracing.SampleRatio != 0 {
		t.Fatalf("a loopback collector in clear text: %v", err)
	}
}

func TestDaemonTracingProblems(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no endpoint", "daemon:\n  tracing: {sample_ratio: 1}\n", `c.yaml:2:3: daemon.tracing: endpoint is not set`},
		{"clear text", "daemon:\n  tracing: {endpoint: \"http://collector.example:4318\"}\n", `daemon.tracing.endpoint: "http://collector.example:4318" sends the traces in clear text over the network`},
		{"not a URL", "daemon:\n  tracing: {endpoint: \"collector:4318\"}\n", `daemon.tracing.endpoint: "collector:4318" is not a collector URL`},
		{"grpc", "daemon:\n  tracing: {endpoint: \"grpc://c.example:4317\"}\n", `daemon.tracing.endpoint: "grpc://c.example:4317": the scheme must be http or https`},
		{"ratio", "daemon:\n  tracing: {endpoint: \"https://c.example\", sample_ratio: 1.5}\n", `daemon.tracing.sample_ratio: "1.5" is not a ratio in (0, 1]`},
		{"inline header", "daemon:\n  tracing: {endpoint: \"https://c.example\", headers: {Authorization: x}}\n", `daemon.tracing.headers: a collector's key is never written in the config`},
	} {
		_, err := Parse("c.yaml", []byte(serveServers+tc.src), homeEnv)
		want := shiftLines(tc.want, strings.Count(serveServers, "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.name, err, want)
		}
	}
}
