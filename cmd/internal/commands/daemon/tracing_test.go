package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/serve"
)

// collector is an OTLP/HTTP traces receiver on loopback.
type collector struct {
	mu     sync.Mutex
	names  []string
	bodies []byte
	keys   []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, body...)
	c.keys = append(c.keys, r.Header.Get("X-Collector-Key"))
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names = append(c.names, s.Name)
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// daemon.tracing sends a run's spans to the collector, with the header
// whose value is a keyring item; the shutdown flushes them. Neither the
// run's input, the server's key nor the collector's key is in a span or
// the log.
func TestDaemonTraces(t *testing.T) {
	const collectorKey = "canary-collector-key-Zx81"
	coll := &collector{}
	srv := httptest.NewServer(coll)
	defer srv.Close()
	h := newHome(t)
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n  tracing:\n    endpoint: %s\n    secret_headers: {X-Collector-Key: otlp-key}\n",
		serve.HashToken(apiToken), srv.URL))
	h.storeKey()
	f := h.factory(io.Discard)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Secrets(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set(config.DaemonSecretServer, "otlp-key", credentials.NewSecret(collectorKey)); err != nil {
		t.Fatal(err)
	}

	r := h.start()
	base := r.baseURL(t)
	var sub struct{ ID string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, `{"workflow": "say", "inputs": {"text": "input `+canaryKey+`"}}`, &sub); code/100 != 2 {
		t.Fatalf("POST /v1/runs: %d", code)
	}
	if got := waitStatus(t, base, sub.ID, "succeeded", "failed"); got != "succeeded" {
		t.Fatalf("run: %s\n%s", got, r.stderr.String())
	}
	r.stop(t)

	coll.mu.Lock()
	defer coll.mu.Unlock()
	got := strings.Join(coll.names, " ")
	for _, want := range []string{"mediator.run", "mediator.step", "mediator.tool_call"} {
		if !strings.Contains(got, want) {
			t.Errorf("the collector got spans %q, not %s", got, want)
		}
	}
	if len(coll.keys) == 0 || coll.keys[0] != collectorKey {
		t.Errorf("the collector's header: %q", coll.keys)
	}
	for _, c := range []string{canaryKey, collectorKey, canaryPassphrase} {
		if strings.Contains(string(coll.bodies), c) {
			t.Errorf("%q reached the collector", c)
		}
		if strings.Contains(r.stderr.String(), c) {
			t.Errorf("%q reached the log", c)
		}
	}
}
