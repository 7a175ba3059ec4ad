package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows"
)

// Bearer tokens of the API tests: "all" reaches every workflow, "rain"
// only rain-*.
const (
	tokenAll  = "all-0123456789abcdef"
	tokenRain = "rain-0123456789abcdef"
)

var apiTokens = []serve.Token{
	{Name: "all", SHA256: serve.HashToken(tokenAll), Workflows: []string{"*"}},
	{Name: "rain", SHA256: serve.HashToken(tokenRain), Workflows: []string{"rain-*"}},
}

// apiRig is the rig's Runs behind APIHandler on a TLS test server that
// verifies client certificates when given, with the statuses every
// request got, by documented path and method.
type apiRig struct {
	*rig
	runs    *Runs
	handler atomic.Pointer[http.Handler]
	srv     *httptest.Server
	ca      *x509.Certificate
	caKey   *ecdsa.PrivateKey

	mu   sync.Mutex
	seen map[string]map[int]bool // "METHOD /path/{id}" -> statuses
}

func newAPIRig(t *testing.T) *apiRig {
	t.Helper()
	a := &apiRig{rig: newRig(t), seen: map[string]map[int]bool{}}
	a.ca, a.caKey = newCA(t)
	a.setRuns(t, a.rig.runs(t, 2))
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*a.handler.Load()).ServeHTTP(w, r)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(a.ca)
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expired certificate's handshake
	a.srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

// setRuns serves r.
func (a *apiRig) setRuns(t *testing.T, r *Runs) {
	t.Helper()
	h, err := APIHandler(APIOptions{
		Runs: r, Tokens: apiTokens,
		Orchestrator: func() *orchestrator.Orchestrator { return a.o },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "# metrics\n")
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.runs = r
	a.handler.Store(&h)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	if code == "" || e["message"] == "" {
		t.Fatalf("not an error body: %s", r.body)
	}
	return code
}

// do sends a request with token (none when "") and records its status
// under route, the documented path it exercises ("" records nothing).
func (a *apiRig) do(t *testing.T, client *http.Client, route, method, target, token string, body io.Reader, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if client == nil {
		client = a.srv.Client()
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if route != "" {
		a.mu.Lock()
		key := method + " " + route
		if a.seen[key] == nil {
			a.seen[key] = map[int]bool{}
		}
		a.seen[key][resp.StatusCode] = true
		a.mu.Unlock()
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

func jsonBody(v any) io.Reader {
	data, _ := json.Marshal(v)
	return bytes.NewReader(data)
}

func want(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errorCode(t); got != code {
			t.Fatalf("error code %q, want %q: %s", got, code, r.body)
		}
	}
}

// runCount is how many runs the daemon has, to check that a refused
// request created none.
func (a *apiRig) runCount(t *testing.T) int {
	t.Helper()
	p, err := a.runs.List(t.Context(), ListOptions{Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Runs)
}

// sse reads an event stream to its end.
func sse(t *testing.T, body []byte) []Event {
	t.Helper()
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(body))
	var id, typ string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var ev Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatal(err)
			}
			if strconv.FormatInt(ev.Seq, 10) != id || ev.Type != typ {
				t.Fatalf("event fields id %s event %s disagree with its data %+v", id, typ, ev)
			}
			out = append(out, ev)
		}
	}
	return out
}

// The API over real HTTP with real workflows: each refusal a clear 4xx
// that creates nothing, submission with an Idempotency-Key, events,
// cancel, resolve after a restart, scopes, client certificates; and every
// route and status the test sees is the OpenAPI file's, and every one the
// file documents is seen (but those listed as not exercised, with why).
func TestAPI(t *testing.T) {
	a := newAPIRig(t)
	const (
		runs     = "/v1/runs"
		run      = "/v1/runs/{id}"
		events   = "/v1/runs/{id}/events"
		cancel   = "/v1/runs/{id}/cancel"
		resolve  = "/v1/runs/{id}/resolve"
		extend   = "/v1/runs/{id}/extend"
		flows    = "/v1/workflows"
		healthz  = "/healthz"
		readyz   = "/readyz"
		metrics  = "/metrics"
		rainBody = `{"workflow":"rain-reminders","inputs":{"cities":["Oslo","Bergen"],"threshold":0.1}}`
	)

	// Health needs no token.
	want(t, a.do(t, nil, healthz, "GET", "/healthz", "", nil), 200, "")
	rd := a.do(t, nil, readyz, "GET", "/readyz", "", nil)
	want(t, rd, 200, "")
	if servers, _ := rd.json(t)["servers"].([]any); len(servers) != 3 {
		t.Errorf("readyz servers = %s", rd.body)
	}
	r := a.do(t, nil, metrics, "GET", "/metrics", "", nil)
	want(t, r, 401, "unauthorized")
	want(t, a.do(t, nil, metrics, "GET", "/metrics", tokenAll, nil), 200, "")

	// Refusals, none of which creates anything.
	r = a.do(t, nil, runs, "POST", "/v1/runs", "", strings.NewReader(rainBody))
	want(t, r, 401, "unauthorized")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	r = a.do(t, nil, runs, "POST", "/v1/runs", "wrong-token", strings.NewReader(rainBody))
	want(t, r, 401, "unauthorized")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("wrong token: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenRain, jsonBody(map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "x"}})), 403, "forbidden")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"nope"}`)), 404, "not_found")
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, jsonBody(map[string]any{"workflow": "rain-reminders", "inputs": map[string]any{"cities": []any{}, "threshold": 7, "colour": "red"}}))
	want(t, r, 400, "invalid_inputs")
	if d, _ := r.json(t)["error"].(map[string]any)["details"].([]any); len(d) != 3 {
		t.Errorf("invalid inputs: details %v, want three", d)
	}
	big := `{"workflow":"hold","inputs":{"tag":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(big)), 413, "too_large")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow": "hold",`)), 400, "malformed_json")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"hold","input":{}}`)), 400, "malformed_json")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{}`)), 400, "bad_request")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"broken"}`)), 422, "workflow_invalid")
	if n := a.runCount(t); n != 0 {
		t.Fatalf("refused requests created %d run(s)", n)
	}

	// A submission, and its retry under the same key.
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenRain, strings.NewReader(rainBody), IdempotencyKeyHeader, "rain-1")
	want(t, r, 201, "")
	rainID, _ := r.json(t)["id"].(string)
	if rainID == "" || r.json(t)["status"] != StatusQueued || r.header.Get("Location") != "/v1/runs/"+rainID {
		t.Fatalf("201 body %s, Location %q", r.body, r.header.Get("Location"))
	}
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenRain, strings.NewReader(rainBody), IdempotencyKeyHeader, "rain-1")
	want(t, r, 200, "")
	if r.json(t)["id"] != rainID {
		t.Fatalf("retry answered %s, want run %s", r.body, rainID)
	}
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenRain, strings.NewReader(`{"workflow":"rain-reminders"}`), IdempotencyKeyHeader, "rain-1"), 422, "idempotency_conflict")

	// Its events, then the run itself.
	r = a.do(t, nil, events, "GET", "/v1/runs/"+rainID+"/events", tokenRain, nil)
	want(t, r, 200, "")
	if ct := r.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("events Content-Type %q", ct)
	}
	evs := sse(t, r.body)
	if len(evs) < 3 || evs[len(evs)-1].Type != EventRunFinished || evs[len(evs)-1].Status != workflows.RunSucceeded {
		t.Fatalf("events = %+v", evs)
	}
	r = a.do(t, nil, events, "GET", "/v1/runs/"+rainID+"/events", tokenRain, nil, "Last-Event-ID", "x")
	want(t, r, 400, "bad_request")
	want(t, a.do(t, nil, events, "GET", "/v1/runs/nope/events", tokenAll, nil), 404, "not_found")
	want(t, a.do(t, nil, events, "GET", "/v1/runs/"+rainID+"/events", "", nil), 401, "unauthorized")
	if err := a.runs.Wait(t.Context(), rainID); err != nil {
		t.Fatal(err)
	}
	r = a.do(t, nil, run, "GET", "/v1/runs/"+rainID, tokenRain, nil)
	want(t, r, 200, "")
	if m := r.json(t); m["status"] != workflows.RunSucceeded || m["workflow"] != "rain-reminders" || m["calls"] == nil || m["outputs"] == nil {
		t.Fatalf("run = %s", r.body)
	}
	want(t, a.do(t, nil, run, "GET", "/v1/runs/nope", tokenAll, nil), 404, "not_found")
	want(t, a.do(t, nil, run, "GET", "/v1/runs/"+rainID, "", nil), 401, "unauthorized")

	// A hold run, out of the rain token's reach, cancelled while running.
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"hold","inputs":{"tag":"h"}}`))
	want(t, r, 201, "")
	holdID, _ := r.json(t)["id"].(string)
	a.waitStarted(t)
	want(t, a.do(t, nil, run, "GET", "/v1/runs/"+holdID, tokenRain, nil), 403, "forbidden")
	want(t, a.do(t, nil, events, "GET", "/v1/runs/"+holdID+"/events", tokenRain, nil), 403, "forbidden")
	want(t, a.do(t, nil, cancel, "POST", "/v1/runs/"+holdID+"/cancel", tokenRain, nil), 403, "forbidden")
	want(t, a.do(t, nil, cancel, "POST", "/v1/runs/"+holdID+"/cancel", "", nil), 401, "unauthorized")
	want(t, a.do(t, nil, cancel, "POST", "/v1/runs/nope/cancel", tokenAll, nil), 404, "not_found")
	r = a.do(t, nil, cancel, "POST", "/v1/runs/"+holdID+"/cancel", tokenAll, nil)
	want(t, r, 200, "")
	if r.json(t)["status"] != workflows.RunCancelled {
		t.Fatalf("cancelled run = %s", r.body)
	}
	want(t, a.do(t, nil, cancel, "POST", "/v1/runs/"+holdID+"/cancel", tokenAll, nil), 409, "conflict")

	// Listing: filters, pages, scope.
	r = a.do(t, nil, runs, "GET", "/v1/runs?limit=1", tokenAll, nil)
	want(t, r, 200, "")
	m := r.json(t)
	if rs, _ := m["runs"].([]any); len(rs) != 1 || m["next_cursor"] == nil {
		t.Fatalf("page 1 = %s", r.body)
	}
	r = a.do(t, nil, runs, "GET", "/v1/runs?limit=1&cursor="+m["next_cursor"].(string), tokenAll, nil)
	want(t, r, 200, "")
	if rs, _ := r.json(t)["runs"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != rainID {
		t.Fatalf("page 2 = %s", r.body)
	}
	r = a.do(t, nil, runs, "GET", "/v1/runs", tokenRain, nil)
	want(t, r, 200, "")
	if rs, _ := r.json(t)["runs"].([]any); len(rs) != 1 {
		t.Fatalf("the rain token lists %s, want its one run", r.body)
	}
	r = a.do(t, nil, runs, "GET", "/v1/runs?workflow=hold&status=cancelled", tokenAll, nil)
	want(t, r, 200, "")
	if rs, _ := r.json(t)["runs"].([]any); len(rs) != 1 {
		t.Fatalf("filtered = %s", r.body)
	}
	want(t, a.do(t, nil, runs, "GET", "/v1/runs?limit=0", tokenAll, nil), 400, "bad_request")
	want(t, a.do(t, nil, runs, "GET", "/v1/runs?workflow=hold", tokenRain, nil), 403, "forbidden")
	want(t, a.do(t, nil, runs, "GET", "/v1/runs", "", nil), 401, "unauthorized")

	// Workflows, by scope.
	r = a.do(t, nil, flows, "GET", "/v1/workflows", tokenRain, nil)
	want(t, r, 200, "")
	wfs, _ := r.json(t)["workflows"].([]any)
	if len(wfs) != 1 || wfs[0].(map[string]any)["name"] != "rain-reminders" || wfs[0].(map[string]any)["inputs_schema"] == nil {
		t.Fatalf("the rain token's workflows = %s", r.body)
	}
	want(t, a.do(t, nil, flows, "GET", "/v1/workflows", "", nil), 401, "unauthorized")

	// Client certificates: a verified one reaches every workflow; an
	// expired one does not get through the handshake.
	certClient := a.clientWithCert(t, time.Now().Add(time.Hour))
	r = a.do(t, certClient, flows, "GET", "/v1/workflows", "", nil)
	want(t, r, 200, "")
	if wfs, _ := r.json(t)["workflows"].([]any); len(wfs) != 4 {
		t.Errorf("client certificate sees %s", r.body)
	}
	expired := a.clientWithCert(t, time.Now().Add(-time.Hour))
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.srv.URL+"/v1/workflows", nil)
	if resp, err := expired.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("an expired client certificate got %d", resp.StatusCode)
	}

	// A run in an unsafe call, stopped by a shutdown without grace, ends
	// blocked after the restart and is resolved over the API.
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"poke"}`))
	want(t, r, 201, "")
	pokeID, _ := r.json(t)["id"].(string)
	a.waitStarted(t)
	grace, stop := context.WithCancel(t.Context())
	stop()
	if err := a.runs.Shutdown(grace); err != nil {
		t.Fatal(err)
	}
	a.work.open()
	a.setRuns(t, a.rig.runs(t, 2))
	if _, err := a.runs.ResumeInterrupted(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.runs.Wait(t.Context(), pokeID); err != nil {
		t.Fatal(err)
	}
	r = a.do(t, nil, run, "GET", "/v1/runs/"+pokeID, tokenAll, nil)
	if m := r.json(t); m["status"] != workflows.RunBlocked || m["blocked"] == nil {
		t.Fatalf("after restart = %s", r.body)
	}
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"maybe"}`)), 400, "bad_request")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":`)), 400, "malformed_json")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"rerun","calls":["nothing"]}`)), 400, "bad_request")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"`+strings.Repeat("x", MaxBodyBytes)+`"}`)), 413, "too_large")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenRain, strings.NewReader(`{"action":"rerun"}`)), 403, "forbidden")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", "", strings.NewReader(`{"action":"rerun"}`)), 401, "unauthorized")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/nope/resolve", tokenAll, strings.NewReader(`{"action":"rerun"}`)), 404, "not_found")
	// Its file gone, it cannot resume; back, it can.
	pokeFile := filepath.Join(a.dir, "poke.flow.yaml")
	if err := os.Rename(pokeFile, pokeFile+".away"); err != nil {
		t.Fatal(err)
	}
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"rerun"}`)), 422, "workflow_invalid")
	if err := os.Rename(pokeFile+".away", pokeFile); err != nil {
		t.Fatal(err)
	}
	r = a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"rerun"}`))
	want(t, r, 202, "")
	if err := a.runs.Wait(t.Context(), pokeID); err != nil {
		t.Fatal(err)
	}
	if info := mustGet(t, a.runs, pokeID); info.Status != workflows.RunSucceeded {
		t.Fatalf("resolved run = %+v", info)
	}
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"rerun"}`)), 409, "conflict")

	// A run that timed out resumes with more time; any other is refused.
	a.rig.write(t, "late.flow.yaml", lateFlow)
	a.work.shut()
	if err := a.runs.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.setRuns(t, a.rig.runs(t, 2))
	r = a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"late"}`))
	want(t, r, 201, "")
	lateID, _ := r.json(t)["id"].(string)
	if err := a.runs.Wait(t.Context(), lateID); err != nil {
		t.Fatal(err)
	}
	if info := mustGet(t, a.runs, lateID); info.Status != workflows.RunTimedOut {
		t.Fatalf("late run = %+v", info)
	}
	lateExtend := "/v1/runs/" + lateID + "/extend"
	for _, body := range []string{`{"by":"soon"}`, `{"by":"0s"}`, `{"by":"-1m"}`, `{}`} {
		want(t, a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(body)), 400, "bad_request")
	}
	want(t, a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(`{"by":`)), 400, "malformed_json")
	want(t, a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(`{"by":"`+strings.Repeat("1", MaxBodyBytes)+`"}`)), 413, "too_large")
	want(t, a.do(t, nil, extend, "POST", lateExtend, tokenRain, strings.NewReader(`{"by":"1m"}`)), 403, "forbidden")
	want(t, a.do(t, nil, extend, "POST", lateExtend, "", strings.NewReader(`{"by":"1m"}`)), 401, "unauthorized")
	want(t, a.do(t, nil, extend, "POST", "/v1/runs/nope/extend", tokenAll, strings.NewReader(`{"by":"1m"}`)), 404, "not_found")
	want(t, a.do(t, nil, extend, "POST", "/v1/runs/"+pokeID+"/extend", tokenAll, strings.NewReader(`{"by":"1m"}`)), 409, "conflict")
	lateFile := filepath.Join(a.dir, "late.flow.yaml")
	if err := os.Rename(lateFile, lateFile+".away"); err != nil {
		t.Fatal(err)
	}
	want(t, a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(`{"by":"1m"}`)), 422, "workflow_invalid")
	if err := os.Rename(lateFile+".away", lateFile); err != nil {
		t.Fatal(err)
	}
	a.work.open()
	r = a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(`{"by":"1m"}`))
	want(t, r, 202, "")
	if err := a.runs.Wait(t.Context(), lateID); err != nil {
		t.Fatal(err)
	}
	if info := mustGet(t, a.runs, lateID); info.Status != workflows.RunSucceeded || info.Outputs["tag"] != "late" || info.Resumes != 1 {
		t.Fatalf("extended run = %+v", info)
	}
	rec, err := a.runs.journal.RunByID(t.Context(), lateID)
	if err != nil || rec.Timeout != time.Minute || rec.Extended != time.Minute {
		t.Fatalf("journalled time: %+v, %v; want a timeout of 1m, extended by 1m", rec, err)
	}
	want(t, a.do(t, nil, extend, "POST", lateExtend, tokenAll, strings.NewReader(`{"by":"1m"}`)), 409, "conflict")

	// Undocumented routes and methods answer 404, with a token or not.
	for _, rt := range [][2]string{
		{"DELETE", "/v1/runs"}, {"PUT", "/v1/runs/" + pokeID}, {"GET", "/v1/runs/" + pokeID + "/cancel"},
		{"GET", "/v1/runs/" + pokeID + "/other"}, {"POST", "/v1/workflows"}, {"POST", "/healthz"},
		{"GET", "/"}, {"GET", "/v2/runs"}, {"GET", "/v1"}, {"GET", "/mcp"},
	} {
		for _, tok := range []string{"", tokenAll} {
			if r := a.do(t, nil, "", rt[0], rt[1], tok, nil); r.status != 404 {
				t.Errorf("%s %s (token %q) answered %d, want 404", rt[0], rt[1], tok, r.status)
			}
		}
	}

	// Shutdown: not ready, no new runs.
	if err := a.runs.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	want(t, a.do(t, nil, readyz, "GET", "/readyz", "", nil), 503, "")
	want(t, a.do(t, nil, runs, "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"hold","inputs":{"tag":"late"}}`)), 503, "shutting_down")
	want(t, a.do(t, nil, runs, "GET", "/v1/runs", tokenAll, nil), 503, "shutting_down")
	want(t, a.do(t, nil, run, "GET", "/v1/runs/"+pokeID, tokenAll, nil), 503, "shutting_down")
	want(t, a.do(t, nil, events, "GET", "/v1/runs/"+pokeID+"/events", tokenAll, nil), 503, "shutting_down")
	want(t, a.do(t, nil, cancel, "POST", "/v1/runs/"+pokeID+"/cancel", tokenAll, nil), 503, "shutting_down")
	want(t, a.do(t, nil, resolve, "POST", "/v1/runs/"+pokeID+"/resolve", tokenAll, strings.NewReader(`{"action":"rerun"}`)), 503, "shutting_down")
	want(t, a.do(t, nil, extend, "POST", "/v1/runs/"+pokeID+"/extend", tokenAll, strings.NewReader(`{"by":"1m"}`)), 503, "shutting_down")

	a.checkSpec(t, map[string]string{})
}

// checkSpec compares the statuses seen with openapi.yaml: every route and
// status seen is documented, and every documented one was seen, but for
// those in unexercised (key "METHOD /path STATUS", value why).
func (a *apiRig) checkSpec(t *testing.T, unexercised map[string]string) {
	t.Helper()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", spec.OpenAPI)
	}
	documented := map[string]map[int]bool{}
	for p, item := range spec.Paths {
		for method, v := range item {
			op, ok := v.(map[string]any)
			if method == "parameters" || !ok {
				continue
			}
			key := strings.ToUpper(method) + " " + p
			documented[key] = map[int]bool{}
			resps, _ := op["responses"].(map[string]any)
			for code := range resps {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status code", key, code)
					continue
				}
				documented[key][n] = true
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var problems []string
	for key, statuses := range a.seen {
		doc, ok := documented[key]
		if !ok {
			problems = append(problems, key+" is served but not documented")
			continue
		}
		for st := range statuses {
			if !doc[st] {
				problems = append(problems, key+" answered "+strconv.Itoa(st)+", which is not documented")
			}
		}
	}
	for key, statuses := range documented {
		for st := range statuses {
			k := key + " " + strconv.Itoa(st)
			if !a.seen[key][st] && unexercised[k] == "" {
				problems = append(problems, k+" is documented but no request of the test got it")
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	if len(documented) != 11 {
		t.Errorf("openapi.yaml documents %d routes, want the 11 served", len(documented))
	}
}

// newCA makes a certificate authority for client certificates.
func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// clientWithCert is a client of the test server presenting a certificate
// of the CA valid until notAfter.
func (a *apiRig) clientWithCert(t *testing.T, notAfter time.Time) *http.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "ci"},
		NotBefore: notAfter.Add(-3 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.ca, &key.PublicKey, a.caKey)
	if err != nil {
		t.Fatal(err)
	}
	c := a.srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	return &http.Client{Transport: tr}
}

// stream is an open event stream.
type stream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func (a *apiRig) openEvents(t *testing.T, id, lastEventID string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", a.srv.URL+"/v1/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenAll)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next reads one event; false at the end of the stream.
func (s *stream) next(t *testing.T) (Event, bool) {
	t.Helper()
	for s.sc.Scan() {
		if data, ok := strings.CutPrefix(s.sc.Text(), "data: "); ok {
			var ev Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			return ev, true
		}
	}
	return Event{}, false
}

// Events stream live while a run executes, a server's progress report
// among them; a client that reconnects with Last-Event-ID gets exactly
// the events after the one it saw, then the rest as they come.
func TestAPIEventsLive(t *testing.T) {
	a := newAPIRig(t)
	r := a.do(t, nil, "", "POST", "/v1/runs", tokenAll, strings.NewReader(`{"workflow":"hold","inputs":{"tag":"live"}}`))
	want(t, r, 201, "")
	id, _ := r.json(t)["id"].(string)
	a.waitStarted(t)

	s := a.openEvents(t, id, "")
	var first []Event
	for {
		ev, ok := s.next(t)
		if !ok {
			t.Fatalf("the stream ended while the run holds; got %+v", first)
		}
		first = append(first, ev)
		if ev.Type == EventProgress {
			if ev.Message != "holding live" || ev.Server != "work" || ev.Path != "wait" {
				t.Errorf("progress event = %+v", ev)
			}
			break
		}
	}
	if first[0].Seq != 1 || first[0].Type != EventRunStarted {
		t.Errorf("first events = %+v", first)
	}
	s.resp.Body.Close()
	cut := first[len(first)-2] // reconnect as if the progress event was lost
	s2 := a.openEvents(t, id, strconv.FormatInt(cut.Seq, 10))
	ev, ok := s2.next(t)
	if !ok || ev.Seq != cut.Seq+1 || ev.Type != EventProgress {
		t.Fatalf("after Last-Event-ID %d came %+v", cut.Seq, ev)
	}
	a.work.open()
	var rest []string
	for {
		ev, ok := s2.next(t)
		if !ok {
			break
		}
		rest = append(rest, ev.Type)
		if ev.Type == EventRunFinished && ev.Status != workflows.RunSucceeded {
			t.Errorf("run finished %+v", ev)
		}
	}
	if len(rest) == 0 || rest[len(rest)-1] != EventRunFinished || !slicesContains(rest, EventStepFinished) {
		t.Errorf("live events after the gate opened: %v", rest)
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// APIHandler refuses options it cannot serve safely, naming the field;
// ClientCertWorkflows scopes client certificates as globs scope tokens.
func TestAPIHandlerOptions(t *testing.T) {
	a := newAPIRig(t)
	for _, tc := range []struct {
		opts APIOptions
		want string
	}{
		{APIOptions{}, "no Runs"},
		{APIOptions{Runs: a.runs, Tokens: []serve.Token{{Name: "ci", SHA256: "abc"}}}, `token "ci": token_sha256`},
		{APIOptions{Runs: a.runs, ClientCertWorkflows: []string{"[a-"}}, "workflows[0]"},
	} {
		if _, err := APIHandler(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("APIHandler(%+v) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	h, err := APIHandler(APIOptions{Runs: a.runs, ClientCertWorkflows: []string{"rain-*"}})
	if err != nil {
		t.Fatal(err)
	}
	a.handler.Store(&h)
	c := a.clientWithCert(t, time.Now().Add(time.Hour))
	r := a.do(t, c, "", "GET", "/v1/workflows", "", nil)
	want(t, r, 200, "")
	if wfs, _ := r.json(t)["workflows"].([]any); len(wfs) != 1 {
		t.Errorf("a certificate scoped to rain-* sees %s", r.body)
	}
	want(t, a.do(t, c, "", "POST", "/v1/runs", "", strings.NewReader(`{"workflow":"hold","inputs":{"tag":"x"}}`)), 403, "forbidden")
	// No /metrics without a Metrics handler.
	want(t, a.do(t, c, "", "GET", "/metrics", "", nil), 404, "not_found")
}
