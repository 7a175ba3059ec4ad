package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

// MaxBodyBytes bounds a request body; a larger one is refused 413.
const MaxBodyBytes = 1 << 20

// IdempotencyKeyHeader names the header that makes a retried POST /v1/runs
// return the run the first one created.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds the header's length.
const maxIdempotencyKey = 255

// sseKeepAlive is how often an idle event stream gets a comment line, so
// that proxies keep it open.
const sseKeepAlive = 15 * time.Second

// RunService is what the API, the web page and the scheduler need of a
// run manager: *Runs, which executes runs in this process, or a client of
// a remote engine (daemon/temporalruns). Refusals are *Error values;
// every text it returns is redacted.
type RunService interface {
	// SubmitRun checks inputs against the catalog workflow's schema and
	// starts a run (Runs.SubmitRun).
	SubmitRun(ctx context.Context, workflow string, inputs map[string]any, idempotencyKey string) (Submission, error)
	List(ctx context.Context, lo ListOptions) (*RunPage, error)
	// Workflow is the workflow a run was submitted for (CodeNotFound for
	// an unknown run).
	Workflow(ctx context.Context, id string) (string, error)
	Get(ctx context.Context, id string) (*RunInfo, error)
	Cancel(ctx context.Context, id string) (*RunInfo, error)
	Resolve(ctx context.Context, id, action string, calls []string) (*RunInfo, error)
	Extend(ctx context.Context, id string, by time.Duration) (*RunInfo, error)
	// Subscribe returns the run's events after seq, then the live ones;
	// the channel closes after run-finished (Runs.Subscribe).
	Subscribe(ctx context.Context, id string, after int64) (<-chan Event, func(), error)
	// Catalog is the workflows SubmitRun may start.
	Catalog() *Catalog
	// Accepting reports whether runs are taken (false once shutting down).
	Accepting() bool
	// Redact masks known secrets in s.
	Redact(s string) string
}

var _ RunService = (*Runs)(nil)

// ReadyChecker is a RunService whose runs execute elsewhere (a cluster it
// reaches over the network): /readyz answers 503 with Ready's error while
// it fails.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// APIOptions configures APIHandler.
type APIOptions struct {
	Runs RunService
	// Tokens are the bearer tokens that may call, each reaching the
	// workflows its Workflows globs match (serve.Token; its Tools are not
	// used here).
	Tokens []serve.Token
	// ClientCertWorkflows are the globs of the workflows a request with a
	// verified client certificate reaches (the listener's TLS config
	// verifies it against client_ca); nil reaches every workflow.
	ClientCertWorkflows []string
	// Orchestrator reports the servers' states for /readyz; nil reports
	// none.
	Orchestrator func() *orchestrator.Orchestrator
	// Metrics serves GET /metrics behind the same authentication; nil
	// leaves /metrics unserved (404).
	Metrics http.Handler
	Logger  *slog.Logger
}

// APIHandler serves the daemon's HTTP API (docs/api.md, openapi.yaml):
// runs and workflows under /v1, /healthz and /readyz without
// authentication, /metrics. Every other path and method answers 404.
// Every refusal is JSON {error: {code, message, details}}, and nothing is
// created by a refused request.
func APIHandler(opts APIOptions) (http.Handler, error) {
	if opts.Runs == nil {
		return nil, errors.New("daemon api: no Runs")
	}
	match, err := serve.MatchToken(opts.Tokens)
	if err != nil {
		return nil, fmt.Errorf("daemon api: api_tokens: %w", err)
	}
	for i, g := range opts.ClientCertWorkflows {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("daemon api: client certificate workflows[%d]: %q is not a valid glob: %w", i, g, err)
		}
	}
	a := &api{opts: opts, runs: opts.Runs, match: match, log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", a.authed(func(w http.ResponseWriter, r *http.Request, _ *principal) { opts.Metrics.ServeHTTP(w, r) }))
	}
	mux.Handle("POST /v1/runs", a.authed(a.submit))
	mux.Handle("GET /v1/runs", a.authed(a.list))
	mux.Handle("GET /v1/runs/{id}", a.authed(a.get))
	mux.Handle("GET /v1/runs/{id}/events", a.authed(a.events))
	mux.Handle("POST /v1/runs/{id}/cancel", a.authed(a.cancel))
	mux.Handle("POST /v1/runs/{id}/resolve", a.authed(a.resolve))
	mux.Handle("POST /v1/runs/{id}/extend", a.authed(a.extend))
	mux.Handle("GET /v1/workflows", a.authed(a.workflows))
	// Anything else, another method on a served path included: 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path), nil)
	})
	return mux, nil
}

type api struct {
	opts  APIOptions
	runs  RunService
	match func(string) *serve.Token
	log   *slog.Logger
}

// principal is who a request comes from and which workflows it reaches.
type principal struct {
	name string
	// scope holds the workflow globs: the token's, or a certificate's.
	scope *serve.Token
}

func (p *principal) allows(workflow string) bool { return p.scope.AllowsWorkflow(workflow) }

func (p *principal) forbid(w http.ResponseWriter, workflow string) bool {
	if p.allows(workflow) {
		return false
	}
	writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("workflow %q is outside the scope of %s (its workflows: [%s])", workflow, p.name, strings.Join(p.scope.Workflows, ", ")), nil)
	return true
}

// authenticate finds who the request comes from: a verified client
// certificate, else a bearer token.
func (a *api) authenticate(w http.ResponseWriter, r *http.Request) *principal {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		globs := a.opts.ClientCertWorkflows
		if globs == nil {
			globs = []string{"*"}
		}
		return &principal{name: "client certificate " + strconv.Quote(r.TLS.VerifiedChains[0][0].Subject.CommonName), scope: &serve.Token{Workflows: globs}}
	}
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mediator"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "this endpoint needs Authorization: Bearer TOKEN (mediator daemon token create NAME) or a client certificate", nil)
		return nil
	}
	t := a.match(strings.TrimSpace(token))
	if t == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mediator", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the bearer token is not one of the daemon's api_tokens", nil)
		return nil
	}
	return &principal{name: "token " + strconv.Quote(t.Name), scope: t}
}

func (a *api) authed(h func(http.ResponseWriter, *http.Request, *principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := a.authenticate(w, r)
		if p == nil {
			return
		}
		h(w, r, p)
	})
}

// errorBody is every refusal's JSON.
type errorBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Details []string `json:"details,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, details []string) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Details = code, msg, details
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// statusOf maps an *Error's code to its HTTP status.
var statusOf = map[string]int{
	CodeNotFound:            http.StatusNotFound,
	CodeInvalidInputs:       http.StatusBadRequest,
	CodeBadRequest:          http.StatusBadRequest,
	CodeWorkflowInvalid:     http.StatusUnprocessableEntity,
	CodeIdempotencyConflict: http.StatusUnprocessableEntity,
	CodeConflict:            http.StatusConflict,
	CodeShuttingDown:        http.StatusServiceUnavailable,
}

// fail answers err: an *Error by its code, anything else 500 (logged, its
// text redacted).
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) {
		st, ok := statusOf[e.Code]
		if !ok {
			st = http.StatusInternalServerError
		}
		writeError(w, st, e.Code, e.Message, e.Details)
		return
	}
	msg := a.runs.Redact(err.Error())
	a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "error", msg)
	writeError(w, http.StatusInternalServerError, "internal", msg, nil)
}

// decode reads a JSON object body of at most MaxBodyBytes into v,
// answering 413 or 400 itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body is over %d bytes", MaxBodyBytes), nil)
		return false
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the body is empty")
	}
	writeError(w, http.StatusBadRequest, "malformed_json", "the request body is not the JSON object this endpoint takes: "+err.Error(), nil)
	return false
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serverState is one server in /readyz.
type serverState struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Error says why a server is not ready (redacted by the orchestrator).
	Error string `json:"error,omitempty"`
}

// readyz is 200 while runs are accepted, with each server's connector
// state: a server that is down or needs a login shows here, and only the
// steps that call it fail. 503 once shutdown began, or while the engine
// runs execute on does not answer (ReadyChecker; engine says why).
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	servers := []serverState{}
	if a.opts.Orchestrator != nil {
		if o := a.opts.Orchestrator(); o != nil {
			for _, s := range o.Servers() {
				st := serverState{Name: s.Name, State: string(s.State)}
				if s.Err != nil {
					st.Error = s.Err.Error()
				}
				servers = append(servers, st)
			}
		}
	}
	ready := a.runs.Accepting()
	body := map[string]any{"ready": ready, "servers": servers}
	if rc, ok := a.runs.(ReadyChecker); ok && ready {
		if err := rc.Ready(r.Context()); err != nil {
			ready, body["ready"], body["engine"] = false, false, a.runs.Redact(err.Error())
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

type submitBody struct {
	Workflow string         `json:"workflow"`
	Inputs   map[string]any `json:"inputs"`
}

func (a *api) submit(w http.ResponseWriter, r *http.Request, p *principal) {
	var b submitBody
	if !decode(w, r, &b) {
		return
	}
	if b.Workflow == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "workflow is not set: give the name of a workflow (GET /v1/workflows lists them)", nil)
		return
	}
	key := r.Header.Get(IdempotencyKeyHeader)
	if len(key) > maxIdempotencyKey {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the %s header is over %d characters", IdempotencyKeyHeader, maxIdempotencyKey), nil)
		return
	}
	if p.forbid(w, b.Workflow) {
		return
	}
	sub, err := a.runs.SubmitRun(r.Context(), b.Workflow, b.Inputs, key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+sub.ID)
	if sub.Existing {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusOK, sub)
		return
	}
	writeJSON(w, http.StatusCreated, sub)
}

func (a *api) list(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	lo := ListOptions{Workflow: q.Get("workflow"), Status: q.Get("status"), Cursor: q.Get("cursor"), Allow: p.allows}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q: give a number from 1 to %d", s, MaxListLimit), nil)
			return
		}
		lo.Limit = n
	}
	if lo.Workflow != "" && p.forbid(w, lo.Workflow) {
		return
	}
	page, err := a.runs.List(r.Context(), lo)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// scoped checks that the run of the path's id exists and that p reaches
// its workflow, answering 404 or 403 itself.
func (a *api) scoped(w http.ResponseWriter, r *http.Request, p *principal) (string, bool) {
	id := r.PathValue("id")
	wf, err := a.runs.Workflow(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return "", false
	}
	if p.forbid(w, wf) {
		return "", false
	}
	return id, true
}

func (a *api) get(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := a.scoped(w, r, p)
	if !ok {
		return
	}
	info, err := a.runs.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := a.scoped(w, r, p)
	if !ok {
		return
	}
	info, err := a.runs.Cancel(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

type resolveBody struct {
	Action string   `json:"action"`
	Calls  []string `json:"calls"`
}

func (a *api) resolve(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := a.scoped(w, r, p)
	if !ok {
		return
	}
	var b resolveBody
	if !decode(w, r, &b) {
		return
	}
	info, err := a.runs.Resolve(r.Context(), id, b.Action, b.Calls)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, info)
}

type extendBody struct {
	// By is the time the resumed run gets, as time.ParseDuration reads
	// it ("10m", "1h30m").
	By string `json:"by"`
}

// extend resumes a run that timed out with more time (Runs.Extend).
func (a *api) extend(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := a.scoped(w, r, p)
	if !ok {
		return
	}
	var b extendBody
	if !decode(w, r, &b) {
		return
	}
	by, err := time.ParseDuration(b.By)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `by: not a duration; give one such as "10m" or "1h30m"`, nil)
		return
	}
	info, err := a.runs.Extend(r.Context(), id, by)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, info)
}

// events streams the run's events as server-sent events: "id: SEQ",
// "event: TYPE", "data: JSON". Last-Event-ID (or ?after=SEQ) resumes
// after that event. The stream ends after run-finished.
func (a *api) events(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := a.scoped(w, r, p)
	if !ok {
		return
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	var seq int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Last-Event-ID %q: give the id of an event received", after), nil)
			return
		}
		seq = n
	}
	ch, stop, err := a.runs.Subscribe(r.Context(), id, seq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer stop()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(ev)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// workflowInfo is one workflow in GET /v1/workflows.
type workflowInfo struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Valid       bool           `json:"valid"`
	Problems    []string       `json:"problems,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	Servers     []string       `json:"servers,omitempty"`
	Inputs      map[string]any `json:"inputs_schema,omitempty"`
}

func (a *api) workflows(w http.ResponseWriter, _ *http.Request, p *principal) {
	out := []workflowInfo{}
	for _, wf := range a.runs.Catalog().Workflows() {
		if !p.allows(wf.Name) {
			continue
		}
		wi := workflowInfo{Name: wf.Name, Valid: wf.Valid(), Problems: wf.Problems, Warnings: wf.Warnings}
		if wf.Flow != nil {
			wi.Description, wi.Servers, wi.Inputs = wf.Flow.Description, wf.Flow.Servers(), InputsSchema(wf.Flow)
		}
		out = append(out, wi)
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": out})
}
