package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/temporalcli"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/temporaltest"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// The package's Temporal test server, started by the first test that
// needs it and stopped by TestMain.
var temporalServer struct {
	once sync.Once
	srv  *temporaltest.Server
	err  error
}

func needTemporal(t *testing.T) *temporaltest.Server {
	t.Helper()
	temporalServer.once.Do(func() { temporalServer.srv, temporalServer.err = temporaltest.Start() })
	return temporaltest.Need(t, temporalServer.srv, temporalServer.err)
}

func stopTemporal() {
	if temporalServer.srv != nil {
		temporalServer.srv.Stop()
	}
}

// mediator (no Temporal hooks) hands a config of engine: temporal to
// mediator-temporal, saying why, before it takes the state directory.
func TestDaemonExecsTemporal(t *testing.T) {
	h := newHome(t)
	h.write("engine: temporal\ntemporal: {host_port: 127.0.0.1:7233}\n")
	errExec := errors.New("exec'd")
	var why string
	cmd := NewCmdDaemon(h.factory(io.Discard), func(ctx context.Context, o *Options) error {
		o.ExecTemporal = func(w string) error { why = w; return errExec }
		return daemonRun(ctx, o)
	})
	cmd.SetArgs(nil)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); !errors.Is(err, errExec) {
		t.Fatalf("daemon = %v; want it to exec mediator-temporal", err)
	}
	if want := "engine: temporal in " + h.cfg; why != want {
		t.Fatalf("why = %q; want %q", why, want)
	}
}

// Under engine: temporal the daemon is a client of the cluster: a run
// submitted over its API executes on a flow worker and an echo worker
// (which holds the server's key; the daemon's runs never call the server
// themselves), with the payload codec's key from the daemon's keyring;
// its events stream to run-finished and GET shows its steps.
func TestDaemonOnTemporal(t *testing.T) {
	srv := needTemporal(t)
	h := newHome(t)
	h.temporal = &cmdutil.Temporal{DaemonRuns: temporalcli.DaemonRuns}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\nengine: temporal\ntemporal: {host_port: %q, namespace: %q, codec_key_secret: codec}\n",
		serve.HashToken(apiToken), srv.HostPort, srv.Namespace))
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
	if err := store.Set(config.TemporalSecretServer, "codec", credentials.NewSecret(hex.EncodeToString(key))); err != nil {
		t.Fatal(err)
	}

	// The workers: the interpreter on the flow queue, and the echo
	// server's calls over a session that sends its key.
	codec, err := temporal.NewCodec("codec", key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := temporal.Dial(t.Context(), temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fw := worker.New(c, temporal.FlowQueue, worker.Options{})
	(&temporal.Flows{Queue: temporal.QueueFor}).Register(fw)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "worker", Version: "1"}, nil).Connect(t.Context(),
		&mcp.StreamableClientTransport{Endpoint: h.serverURL, HTTPClient: &http.Client{Transport: keyHeader{}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	aw := worker.New(c, temporal.QueueFor("echo"), worker.Options{})
	(&temporal.Activities{Caller: &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"echo": cs}}}).Register(aw)
	for _, w := range []worker.Worker{fw, aw} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
	}

	r := h.start()
	base := r.baseURL(t)
	defer r.stop(t)
	var sub struct{ ID, Status string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, `{"workflow": "say", "inputs": {"text": "hi"}}`, &sub); code != http.StatusCreated || sub.Status != workflows.RunRunning {
		t.Fatalf("POST /v1/runs: %d %+v", code, sub)
	}
	if last := lastEvent(t, base, sub.ID); !strings.Contains(last, `"status":"succeeded"`) {
		t.Fatalf("run-finished: %s", last)
	}
	var info struct {
		Status string
		Steps  map[string]string
	}
	if code := api(t, "GET", base+"/v1/runs/"+sub.ID, apiToken, "", &info); code != http.StatusOK || info.Status != workflows.RunSucceeded ||
		info.Steps["say"] != workflows.StatusSucceeded {
		t.Fatalf("GET: %d %+v", code, info)
	}
	// It is a workflow of the cluster, its input encrypted with the key
	// the daemon read from its keyring.
	d, err := (&temporal.Runs{Client: c, Codec: codec}).Describe(t.Context(), sub.ID)
	if err != nil || d.Workflow != "say" || d.Inputs["text"] != "hi" {
		t.Fatalf("describe: %+v, %v", d, err)
	}
}

// keyHeader sends the echo server's key, as the server's worker does.
type keyHeader struct{}

func (keyHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", canaryKey)
	return http.DefaultTransport.RoundTrip(r)
}

// lastEvent reads the run's event stream to its end and returns the last
// event's data.
func lastEvent(t *testing.T, base, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var typ, data string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
		}
	}
	if typ != "run-finished" {
		t.Fatalf("the stream ended at %s %s", typ, data)
	}
	return data
}
