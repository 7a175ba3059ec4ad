package config

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/serve"
)

// DaemonTracing is daemon.tracing: where the daemon sends its
// OpenTelemetry traces (daemon.TracingOptions). Nil when the block is
// absent; the standard OTEL_EXPORTER_OTLP_* variables can turn tracing
// on without it.
type DaemonTracing struct {
	// Endpoint is the collector's OTLP/HTTP URL; http:// only on loopback.
	Endpoint string
	// SecretHeaders map header names to keyring items of
	// DaemonSecretServer (a collector's API key).
	SecretHeaders map[string]string
	// SampleRatio is the share of runs traced, in (0, 1]; 0 is the
	// default (OTEL_TRACES_SAMPLER, else every run).
	SampleRatio float64
}

type rawDaemonTracing struct {
	Endpoint      string            `mapstructure:"endpoint"`
	SecretHeaders map[string]string `mapstructure:"secret_headers"`
	SampleRatio   string            `mapstructure:"sample_ratio"`
}

const tracingHeaderMsg = `a collector's key is never written in the config: store it with "mediator secret set daemon NAME" and write secret_headers: {HEADER: NAME}`

var daemonTracingSpec = &spec{kind: kObject, fields: map[string]*spec{
	"endpoint":       {kind: kString},
	"secret_headers": {kind: kHeaderMap},
	"sample_ratio":   {kind: kString},
}, wrong: map[string]string{"headers": tracingHeaderMsg, "insecure": "an http:// endpoint is clear text, taken on loopback only; any other collector takes https://"}}

// buildDaemonTracing checks daemon.tracing: an http(s) endpoint (clear
// text only to loopback), header items, a ratio in (0, 1].
func (w *walker) buildDaemonTracing(raw *rawDaemonTracing, d *Daemon) {
	const p = "daemon.tracing"
	if raw == nil {
		return
	}
	t := &DaemonTracing{Endpoint: raw.Endpoint, SecretHeaders: raw.SecretHeaders}
	switch u, err := url.Parse(raw.Endpoint); {
	case raw.Endpoint == "":
		w.keyAt(p, "endpoint is not set: name the collector's OTLP/HTTP URL, e.g. endpoint: http://127.0.0.1:4318 (or leave the block out and set OTEL_EXPORTER_OTLP_ENDPOINT)")
	case err != nil || u.Host == "" || u.User != nil:
		w.at(p+".endpoint", "%q is not a collector URL: write http(s)://HOST:PORT[/PATH], e.g. http://127.0.0.1:4318", raw.Endpoint)
	case u.Scheme == "http" && !serve.IsLoopback(u.Hostname()):
		w.at(p+".endpoint", "%q sends the traces in clear text over the network: use https://, or http:// to a collector on loopback (127.0.0.1, ::1, localhost)", raw.Endpoint)
	case u.Scheme != "http" && u.Scheme != "https":
		w.at(p+".endpoint", "%q: the scheme must be http or https (OTLP over HTTP)", raw.Endpoint)
	default:
		if _, err := daemon.TracesURL(raw.Endpoint); err != nil {
			w.at(p+".endpoint", "%v", err)
		}
	}
	for h, item := range raw.SecretHeaders {
		if item == "" {
			w.at(p+".secret_headers."+h, "names no keyring item: store the value with \"mediator secret set %s NAME\" and write the NAME here", DaemonSecretServer)
		}
	}
	if raw.SampleRatio != "" {
		r, err := strconv.ParseFloat(strings.TrimSpace(raw.SampleRatio), 64)
		if err != nil || r <= 0 || r > 1 {
			w.at(p+".sample_ratio", "%q is not a ratio in (0, 1]: the share of runs traced, e.g. 0.25; 1 traces every run", raw.SampleRatio)
		} else {
			t.SampleRatio = r
		}
	}
	d.Tracing = t
}
