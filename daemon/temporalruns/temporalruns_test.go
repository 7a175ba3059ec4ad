package temporalruns_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/daemon/temporalruns"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

var rainInputs = map[string]any{"cities": []any{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}, "threshold": 0.5}

// comparable is a run's outcome with the calendar's event ids sorted:
// they number the events in the order the calendar got them, which
// concurrent items do not fix.
func comparable(info *daemon.RunInfo) string {
	out := map[string]any{}
	for k, v := range info.Outputs {
		if l, ok := v.([]any); ok {
			l = slices.Clone(l)
			slices.SortFunc(l, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			v = l
		}
		out[k] = v
	}
	b, _ := json.Marshal(map[string]any{"status": info.Status, "outputs": out, "steps": info.Steps, "error": info.Error})
	return string(b)
}

// A run submitted over the HTTP API executes as a Temporal workflow on
// the workers: its events stream to run-finished, GET and the list show
// it, and its outcome (status, outputs, step states) is a local daemon's
// for the same flow and inputs.
func TestRunOverAPI(t *testing.T) {
	rg := newRig(t, nil)
	id, b := rg.submit(t, "rain-reminders", rainInputs, http.StatusCreated)
	if id == "" || !strings.Contains(string(b), `"status":"running"`) {
		t.Fatalf("POST answered %s", b)
	}
	evs, _ := rg.follow(t, id, "")
	var types []string
	for i, e := range evs {
		types = append(types, e.typ)
		if e.ev.Type != e.typ || e.ev.RunID != id || e.id != strconv.FormatInt(e.ev.Seq, 10) || i > 0 && e.ev.Seq <= evs[i-1].ev.Seq {
			t.Fatalf("event %d: %+v (id %s)", i, e.ev, e.id)
		}
	}
	last := evs[len(evs)-1].ev
	if types[0] != daemon.EventRunStarted || last.Status != workflows.RunSucceeded || !slices.Contains(types, daemon.EventItemFinished) {
		t.Fatalf("events %v, last %+v", types, last)
	}
	// Resuming after an event gives only the later ones.
	rest, _ := rg.follow(t, id, evs[len(evs)-3].id)
	if len(rest) != 2 || rest[0].ev.Seq != evs[len(evs)-2].ev.Seq {
		t.Fatalf("after %s: %+v", evs[len(evs)-3].id, rest)
	}

	info, _ := rg.get(t, id)
	local := localRun(t, rg.dir, "rain-reminders", rainInputs)
	if got, want := comparable(info), comparable(local); got != want || local.Status != workflows.RunSucceeded {
		t.Fatalf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
	}
	if info.Workflow != "rain-reminders" || info.SubmittedAt.IsZero() || info.FinishedAt.Before(info.StartedAt) || fmt.Sprint(info.Inputs["threshold"]) != "0.5" {
		t.Fatalf("run: %+v", info)
	}

	st, lb, _ := rg.call(t, http.MethodGet, "/v1/runs?workflow=rain-reminders&status=succeeded", nil)
	var page daemon.RunPage
	if err := json.Unmarshal(lb, &page); st != http.StatusOK || err != nil || len(page.Runs) == 0 {
		t.Fatalf("list: %d %s", st, lb)
	}
	listed := false
	for _, r := range page.Runs {
		if r.Workflow != "rain-reminders" || r.Status != workflows.RunSucceeded || r.Inputs != nil {
			t.Fatalf("list: %d %s", st, lb)
		}
		listed = listed || r.ID == id
	}
	if !listed {
		t.Fatalf("run %s not listed: %s", id, lb)
	}
	// A token scoped to other workflows neither sees nor reads it.
	st, lb, _ = rg.callAs(t, "narrow-"+testToken, http.MethodGet, "/v1/runs", nil)
	if st != http.StatusOK || strings.Contains(string(lb), id) {
		t.Fatalf("narrow list: %d %s", st, lb)
	}
	if st, b, _ := rg.callAs(t, "narrow-"+testToken, http.MethodGet, "/v1/runs/"+id, nil); st != http.StatusForbidden {
		t.Fatalf("narrow GET: %d %s", st, b)
	}
	for path, want := range map[string]int{
		"/v1/runs/no-such-run":        http.StatusNotFound,
		"/v1/runs/no-such-run/events": http.StatusNotFound,
	} {
		if st, b, _ := rg.call(t, http.MethodGet, path, nil); st != want {
			t.Errorf("GET %s: %d %s; want %d", path, st, b, want)
		}
	}
	// Extend has no Temporal equivalent: a clear refusal; resolve of a
	// run that is not blocked is one as locally.
	for path, want := range map[string]string{"/resolve": "not blocked", "/extend": "engine: temporal"} {
		st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+path, map[string]any{"/resolve": map[string]any{"action": "rerun"}, "/extend": map[string]any{"by": "10m"}}[path])
		if st != http.StatusConflict || !strings.Contains(string(b), want) {
			t.Errorf("POST %s: %d %s; want 409 saying %q", path, st, b, want)
		}
	}
	if st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+"/cancel", nil); st != http.StatusConflict {
		t.Errorf("cancel of a finished run: %d %s; want 409", st, b)
	}
}

// Cancel reaches the call in flight on its worker as MCP cancellation;
// the finally step still runs and the run ends cancelled.
func TestCancelOverAPI(t *testing.T) {
	rg := newRig(t, nil)
	id, _ := rg.submit(t, "hold", map[string]any{"tag": "c1"}, http.StatusCreated)
	select {
	case tag := <-rg.work.started:
		if tag != "c1" {
			t.Fatalf("the server got %q", tag)
		}
	case <-time.After(time.Minute):
		t.Fatal("the call never reached the server")
	}
	if info, _ := rg.get(t, id); info.Status != workflows.RunRunning || info.Steps["wait"] != workflows.RunRunning {
		t.Fatalf("before cancel: %+v", info)
	}
	st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+"/cancel", nil)
	var info daemon.RunInfo
	if err := json.Unmarshal(b, &info); st != http.StatusOK || err != nil || info.Status != workflows.RunCancelled ||
		info.Steps["wait"] != workflows.StatusCancelled || info.Finally != workflows.StatusSucceeded {
		t.Fatalf("cancel: %d %s", st, b)
	}
	select {
	case tag := <-rg.work.cancelled:
		if tag != "c1" {
			t.Fatalf("cancelled %q", tag)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server never saw the call cancelled")
	}
	evs, _ := rg.follow(t, id, "")
	if last := evs[len(evs)-1].ev; last.Status != workflows.RunCancelled {
		t.Fatalf("run-finished %+v", last)
	}
}

// A resubmission with the same Idempotency-Key returns the first run and
// starts nothing; with other inputs it is refused.
func TestIdempotentResubmission(t *testing.T) {
	rg := newRig(t, nil)
	rg.work.open()
	key := "nightly-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	id, _ := rg.submit(t, "hold", map[string]any{"tag": "i1"}, http.StatusCreated, daemon.IdempotencyKeyHeader, key)
	st, b, h := rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "i1"}},
		daemon.IdempotencyKeyHeader, key)
	if st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(b), `"id":"`+id+`"`) {
		t.Fatalf("resubmission: %d %s %v", st, b, h)
	}
	evs, _ := rg.follow(t, id, "")
	if evs[len(evs)-1].ev.Status != workflows.RunSucceeded {
		t.Fatalf("run ended %+v", evs[len(evs)-1].ev)
	}
	// After the run ended, the key still names it.
	st, b, _ = rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "i1", "n": 1}},
		daemon.IdempotencyKeyHeader, key)
	if st != http.StatusOK || !strings.Contains(string(b), `"status":"succeeded"`) {
		t.Fatalf("resubmission after the end (n's default given): %d %s", st, b)
	}
	st, b, _ = rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "other"}},
		daemon.IdempotencyKeyHeader, key)
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), daemon.CodeIdempotencyConflict) {
		t.Fatalf("other inputs, same key: %d %s", st, b)
	}
	// The same key for another workflow is another run.
	other, _ := rg.submit(t, "fail", map[string]any{"tag": "x"}, http.StatusCreated, daemon.IdempotencyKeyHeader, key)
	if other == id {
		t.Fatal("the key named the same run for two workflows")
	}
	select {
	case tag := <-rg.work.started:
		if tag != "i1" {
			t.Fatalf("call %q", tag)
		}
	default:
		t.Fatal("the run made no call")
	}
	select {
	case tag := <-rg.work.started:
		t.Fatalf("a second call %q: the resubmission started a run", tag)
	default:
	}
	// Inputs that do not check are refused before anything starts.
	if st, b, _ := rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"n": 0}}); st != http.StatusBadRequest ||
		!strings.Contains(string(b), daemon.CodeInvalidInputs) {
		t.Fatalf("bad inputs: %d %s", st, b)
	}
}

// A secret of the keyring given in the inputs, echoed in a result and
// quoted in a server's error appears in no answer and no event: every
// one is masked with the daemon's redactor.
func TestCanarySecretNeverOut(t *testing.T) {
	const canary = "canary-S3CRET-5e1d07"
	store, err := credentials.Open(t.Context(), credentials.Options{Backend: "file", FileDir: t.TempDir(),
		Passphrase: func(string) (string, error) { return "a passphrase for tests", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("work", "token", credentials.NewSecret(canary)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get("work", "token"); err != nil {
		t.Fatal(err)
	}
	rg := newRig(t, store.Redactor())
	if got := rg.red.Redact("x" + canary); strings.Contains(got, canary) {
		t.Fatalf("the keyring's redactor does not know the canary: %s", got)
	}
	rg.work.open()
	var seen []byte
	keep := func(b []byte) { seen = append(seen, b...) }

	key := canary + "/" + strconv.FormatInt(time.Now().UnixNano(), 10)
	ok, b := rg.submit(t, "hold", map[string]any{"tag": "x" + canary}, http.StatusCreated, daemon.IdempotencyKeyHeader, key)
	keep(b)
	bad, b := rg.submit(t, "fail", map[string]any{"tag": canary}, http.StatusCreated)
	keep(b)
	for _, id := range []string{ok, bad} {
		_, raw := rg.follow(t, id, "")
		keep(raw)
		_, raw = rg.get(t, id)
		keep(raw)
	}
	info, raw := rg.get(t, ok)
	if info.Status != workflows.RunSucceeded || !strings.Contains(string(raw), "[REDACTED]") {
		t.Fatalf("run %s: %s", ok, raw)
	}
	if info, raw := rg.get(t, bad); info.Status != workflows.RunFailed || !strings.Contains(info.Error, "refused") {
		t.Fatalf("run %s: %s", bad, raw)
	}
	_, b, _ = rg.call(t, http.MethodGet, "/v1/runs", nil)
	keep(b)
	_, b, _ = rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "x", "n": canary}})
	keep(b)
	_, b, _ = rg.call(t, http.MethodPost, "/v1/runs", map[string]any{"workflow": "hold", "inputs": map[string]any{"tag": "x" + canary}},
		daemon.IdempotencyKeyHeader, key)
	keep(b)
	if i := strings.Index(string(seen), canary); i >= 0 {
		t.Fatalf("the canary got out: ...%s...", seen[max(0, i-120):min(len(seen), i+40)])
	}
}

// fixedClock is the scheduler's clock in TestScheduledRuns.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// The scheduler's runs go to Temporal the same way, under their fire
// time's key: a daemon that crashed after submitting a fire but before
// recording it submits it again at its next start and gets the same run.
func TestScheduledRuns(t *testing.T) {
	rg := newRig(t, nil)
	rg.work.open()
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	state := t.TempDir()
	name := fmt.Sprintf("hourly-%d", time.Now().UnixNano())
	seed := []byte(fmt.Sprintf(`{"last_fire": {%q: %q}}`, name, now.Add(-3*time.Hour).Format(time.RFC3339)))
	sc := daemon.Schedule{Name: name, Workflow: "hold", Cron: "0 * * * *", Inputs: map[string]any{"tag": "s"}, Missed: daemon.MissedRunOnce}
	for range 2 {
		// Each start finds the state as the crash left it: the fire
		// not recorded.
		if err := os.WriteFile(filepath.Join(state, daemon.StateFile), seed, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := daemon.NewScheduler(daemon.SchedulerOptions{Schedules: []daemon.Schedule{sc}, Submit: rg.svc, StateDir: state, Clock: fixedClock(now)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CatchUp(t.Context()); err != nil {
			t.Fatal(err)
		}
		if last, _ := s.LastFire(sc.Name); !last.Equal(now.Add(-30 * time.Minute)) {
			t.Fatalf("last fire %s", last)
		}
	}
	// The fire's run, as its key names it.
	sub, err := rg.svc.SubmitRun(t.Context(), "hold", sc.Inputs, daemon.IdempotencyKey(name, now.Add(-30*time.Minute)))
	if err != nil || !sub.Existing {
		t.Fatalf("the fire's key names no run: %+v %v", sub, err)
	}
	st, b, _ := rg.call(t, http.MethodGet, "/v1/runs?workflow=hold", nil)
	if st != http.StatusOK || !strings.Contains(string(b), `"id":"`+sub.ID+`"`) {
		t.Fatalf("list: %d %s", st, b)
	}
	if evs, _ := rg.follow(t, sub.ID, ""); evs[len(evs)-1].ev.Status != workflows.RunSucceeded {
		t.Fatalf("scheduled run ended %+v", evs[len(evs)-1].ev)
	}
	if n := len(rg.work.started); n != 1 {
		t.Fatalf("%d calls; want the one run's", n)
	}
}

// An unsafe call whose worker is lost mid-call blocks the run: GET and
// the list show it blocked with the call, resolve mark-done (the
// mediator.resolve signal) settles it, and the run goes on to succeed;
// a name that is no blocked call's is refused.
func TestResolveBlockedRun(t *testing.T) {
	rg := newRigWith(t, nil, rigOptions{heartbeat: 2 * time.Second, ownWorkClient: true})
	id, _ := rg.submit(t, "charge", nil, http.StatusCreated)
	select {
	case <-rg.work.started:
	case <-time.After(time.Minute):
		t.Fatal("the call never reached the server")
	}
	rg.workClient.Close() // the worker is lost: no heartbeat, no answer
	var info *daemon.RunInfo
	for deadline := time.Now().Add(time.Minute); ; {
		if info, _ = rg.get(t, id); info.Status == workflows.RunBlocked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never blocked: %+v", info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(info.Blocked) != 1 || info.Blocked[0].Path != "charge" || info.Blocked[0].Server != "work" || info.Blocked[0].Tool != "charge" {
		t.Fatalf("blocked calls: %+v", info.Blocked)
	}
	st, b, _ := rg.call(t, http.MethodGet, "/v1/runs?status=blocked&workflow=charge", nil)
	if st != http.StatusOK || !strings.Contains(string(b), `"id":"`+id+`"`) || !strings.Contains(string(b), `"status":"blocked"`) {
		t.Fatalf("blocked list: %d %s", st, b)
	}
	if st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+"/resolve", map[string]any{"action": "mark-done", "calls": []string{"nothing"}}); st != http.StatusBadRequest ||
		!strings.Contains(string(b), "charge") {
		t.Fatalf("resolve of no blocked call: %d %s", st, b)
	}
	if st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+"/resolve", map[string]any{"action": "mark-done", "calls": []string{"charge"}}); st != http.StatusAccepted {
		t.Fatalf("resolve: %d %s", st, b)
	}
	evs, _ := rg.follow(t, id, "")
	if last := evs[len(evs)-1].ev; last.Status != workflows.RunSucceeded {
		t.Fatalf("run-finished %+v", last)
	}
	if info, b := rg.get(t, id); info.Steps["charge"] != workflows.StatusSucceeded || info.Steps["after"] != workflows.StatusSucceeded || info.Outputs["charged"] != nil {
		t.Fatalf("after resolve: %s", b)
	}
	if st, b, _ := rg.call(t, http.MethodPost, "/v1/runs/"+id+"/resolve", map[string]any{"action": "rerun"}); st != http.StatusConflict {
		t.Fatalf("resolve of a finished run: %d %s", st, b)
	}
}

// The web page reads runs on Temporal as it reads local ones: the list
// and a run's page with its steps, after a login with an API token.
func TestWebPage(t *testing.T) {
	rg := newRig(t, nil)
	rg.work.open()
	id, _ := rg.submit(t, "hold", map[string]any{"tag": "page"}, http.StatusCreated)
	if evs, _ := rg.follow(t, id, ""); evs[len(evs)-1].ev.Status != workflows.RunSucceeded {
		t.Fatalf("run ended %+v", evs[len(evs)-1].ev)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rg.url+"/ui/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", rg.url)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page := func(path string) string {
		t.Helper()
		resp, err := browser.Get(rg.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != path {
			t.Fatalf("GET %s: %d at %s\n%s", path, resp.StatusCode, resp.Request.URL.Path, b)
		}
		return string(b)
	}
	if list := page("/ui/runs"); !strings.Contains(list, id) {
		t.Fatalf("the runs page does not list %s", id)
	}
	run := page("/ui/runs/" + id)
	for _, want := range []string{id, "hold", "wait", "note", workflows.RunSucceeded} {
		if !strings.Contains(run, want) {
			t.Errorf("the run's page has no %q", want)
		}
	}
}

// /readyz says ready while the cluster answers, and 503 naming the
// engine when it does not.
func TestReadiness(t *testing.T) {
	rg := newRig(t, nil)
	resp, err := http.Get(rg.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ready":true`) {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, b)
	}

	srv := server.Need(t)
	c, err := temporal.Dial(t.Context(), temporal.ClientOptions{HostPort: srv.HostPort, Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := temporalruns.New(temporalruns.Options{Runs: &temporal.Runs{Client: c}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // the cluster is out of reach
	h, err := daemon.APIHandler(daemon.APIOptions{Runs: svc})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"engine":"the Temporal cluster does not answer`) {
		t.Fatalf("/readyz without the cluster: %d %s", rec.Code, rec.Body.String())
	}
}

// Runs no flow worker takes list as running: the list does not wait on
// each for its status.
func TestListWithoutFlowWorker(t *testing.T) {
	rg := newRig(t, nil)
	svc, err := temporalruns.New(temporalruns.Options{
		Runs:    &temporal.Runs{Client: rg.c, FlowQueue: fmt.Sprintf("nobody-polls-%d", time.Now().UnixNano()), Codec: rg.codec},
		Catalog: rg.svc.Catalog(), Validate: flow.ValidateOptions{Server: serverCheck}, TrustedServers: rigServers,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 6 {
		id, err := svc.Submit(t.Context(), "fail", map[string]any{"tag": "unseen"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		t.Cleanup(func() { _ = rg.c.TerminateWorkflow(context.Background(), id, "", "test over") })
	}
	page, err := svc.List(t.Context(), daemon.ListOptions{Workflow: "fail", Status: workflows.RunRunning})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range page.Runs {
		listed = append(listed, r.ID)
	}
	for _, id := range ids {
		if !slices.Contains(listed, id) {
			t.Fatalf("run %s not listed running: %v", id, listed)
		}
	}
}
