// Package flows_test runs the example workflow files against real servers:
// the demo weather and calendar servers in-process, and the npm reference
// servers over stdio, through the orchestrator as `mediator run` does.
package flows_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

func trustAll(string) bool { return true }

func load(t *testing.T, name string) *flow.Flow {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, probs := flow.Check(context.Background(), name, data, flow.ValidateOptions{ReadFile: os.ReadFile})
	// Warnings included: an example shows a clean file, but for the one
	// every wait gets offline (until needs the tool's annotations, which
	// only validate --connect sees; run checks them, as the tests do).
	probs = slices.DeleteFunc(probs, func(p flow.Problem) bool { return p.Warning && strings.HasSuffix(p.Field, ".until") })
	if len(probs) > 0 {
		t.Fatalf("%s does not validate:\n%v", name, probs)
	}
	return f
}

func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("*.flow.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example flows: %v %v", files, err)
	}
	for _, f := range files {
		load(t, f)
	}
}

func newOrchestrator(t *testing.T, servers ...orchestrator.ServerConfig) *orchestrator.Orchestrator {
	o, _ := auditedOrchestrator(t, servers...)
	return o
}

// auditedOrchestrator is newOrchestrator that also says where its audit
// log is.
func auditedOrchestrator(t *testing.T, servers ...orchestrator.ServerConfig) (*orchestrator.Orchestrator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o, err := orchestrator.New(orchestrator.Options{Servers: servers, AuditPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, path
}

// auditOrigins reads the run and step of every record in an audit log.
func auditOrigins(t *testing.T, o *orchestrator.Orchestrator, path string) []orchestrator.CallOrigin {
	t.Helper()
	if err := o.SyncAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []orchestrator.CallOrigin
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct{ Run, Step string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, orchestrator.CallOrigin{Run: rec.Run, Step: rec.Step})
	}
	return out
}

func run(t *testing.T, f *flow.Flow, caller workflows.ToolCaller, inputs map[string]any) *workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := workflows.OpenJournal(filepath.Join(t.TempDir(), workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// What `mediator validate --connect` checks: the example must pass it
	// against the live tools, not only offline.
	if ps := flow.Validate(ctx, f, flow.ValidateOptions{Catalog: caller, TrustAnnotations: trustAll}); len(ps) > 0 {
		t.Fatalf("%s does not validate against the live tools:\n%v", f.Source, ps)
	}
	res, err := workflows.Run(ctx, f, workflows.RunOptions{
		Runtime: workflows.NewLocalRuntime(caller), Journal: j, Inputs: inputs, TrustAnnotations: trustAll,
	})
	if err != nil {
		t.Fatalf("run %s: %v", f.Name, err)
	}
	return res
}

// keyLog records the idempotency key of every create_event call a server
// receives, as the server itself sees it in the request's _meta.
type keyLog struct {
	mu   sync.Mutex
	keys []string
}

func (l *keyLog) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && method == "tools/call" && p.Name == calendar.ToolCreateEvent {
			key, _ := p.Meta[workflows.MetaIdempotencyKey].(string)
			l.mu.Lock()
			l.keys = append(l.keys, key)
			l.mu.Unlock()
		}
		return next(ctx, method, req)
	}
}

func (l *keyLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.keys))
}

// TestRainReminders runs the demo flow over the example weather and
// calendar servers through the orchestrator: reminders exactly for the
// rainy cities, each create_event carrying the step's idempotency key in
// _meta, and a second run creates nothing new because the keys repeat.
func TestRainReminders(t *testing.T) {
	f := load(t, "rain-reminders.flow.yaml")
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	cal := calendar.NewServer()
	var got keyLog
	cal.AddReceivingMiddleware(got.middleware)
	o, auditPath := auditedOrchestrator(t,
		orchestrator.ServerConfig{Config: connectors.Config{Name: "weather", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(weather.NewServer(now))},
		orchestrator.ServerConfig{Config: connectors.Config{Name: "calendar", Timeout: 10 * time.Second}, NewTransport: orchestrator.InProcess(cal)},
	)
	caller := workflows.OrchestratorCaller{O: o}
	cities := []any{"Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Lisbon"}
	const threshold = 0.5
	var rainy, dry, wantKeys []string
	for _, c := range cities {
		fc := weather.Predict(c.(string), now(), 1)
		if fc.PrecipitationProbability >= threshold {
			rainy = append(rainy, c.(string))
			wantKeys = append(wantKeys, "rain-"+fc.Location+"-"+fc.Date)
		} else {
			dry = append(dry, c.(string))
		}
	}
	if len(rainy) == 0 || len(dry) == 0 {
		t.Fatalf("test cities should be mixed: rainy %v dry %v", rainy, dry)
	}
	slices.Sort(wantKeys)
	inputs := map[string]any{"cities": cities, "threshold": threshold}
	res := run(t, f, caller, inputs)
	// Every call of the run is on record as the run's, with its step.
	origins := auditOrigins(t, o, auditPath)
	if len(origins) != len(cities)+len(rainy) {
		t.Errorf("%d audit records, want %d (a forecast per city, an event per rainy one)", len(origins), len(cities)+len(rainy))
	}
	for i, og := range origins {
		if og.Run != res.RunID || !strings.Contains(og.Step, "[") {
			t.Errorf("audit record %d is from run %q step %q, want run %q and a step path", i+1, og.Run, og.Step, res.RunID)
		}
	}
	if got := strs(res.Outputs["rainy_cities"]); strings.Join(got, ",") != strings.Join(rainy, ",") {
		t.Errorf("rainy_cities %v, want %v", got, rainy)
	}
	if got := strs(res.Outputs["dry_cities"]); strings.Join(got, ",") != strings.Join(dry, ",") {
		t.Errorf("dry_cities %v, want %v", got, dry)
	}
	created := strs(res.Outputs["created"])
	if len(created) != len(rainy) {
		t.Fatalf("created %v for rainy %v", created, rainy)
	}
	if keys := got.sorted(); !slices.Equal(keys, wantKeys) {
		t.Fatalf("calendar received idempotency keys %q, want %q", keys, wantKeys)
	}

	again := run(t, f, caller, inputs)
	if strings.Join(strs(again.Outputs["created"]), ",") != strings.Join(created, ",") {
		t.Fatalf("second run created %v, first %v: the idempotency key did not hold", again.Outputs["created"], created)
	}
	if keys := got.sorted(); len(keys) != 2*len(wantKeys) {
		t.Fatalf("after two runs the calendar received keys %q, want each of %q twice", keys, wantKeys)
	}
	events := listEvents(t, caller)
	if events != len(rainy) {
		t.Fatalf("calendar holds %d events, want %d", events, len(rainy))
	}
}

func listEvents(t *testing.T, caller workflows.ToolCaller) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := caller.CallTool(ctx, workflows.CallRequest{Server: "calendar", Tool: calendar.ToolListEvents, Args: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_events: %v %v", err, res)
	}
	m, _ := res.StructuredContent.(map[string]any)
	evs, _ := m["events"].([]any)
	return len(evs)
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestNotesToMemory moves notes from server-filesystem into server-memory,
// both over stdio through the orchestrator.
func TestNotesToMemory(t *testing.T) {
	f := load(t, "notes-to-memory.flow.yaml")
	fsCmd, fsArgs := testenv.NPMServer(t, "mcp-server-filesystem")
	memCmd, memArgs := testenv.NPMServer(t, "mcp-server-memory")
	dir := t.TempDir()
	notes := map[string]string{
		"alpha.txt":  "Alpha is the first letter.\nIt starts the alphabet.\n",
		"beta.txt":   "Beta comes second.\n",
		"gamma.txt":  "Gamma rays are energetic.\n",
		"readme.md":  "not a note",
		"delta.txt~": "a backup, not a note",
	}
	for name, body := range notes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := newOrchestrator(t,
		orchestrator.ServerConfig{Config: connectors.Config{Name: "files", Command: fsCmd, Args: append(fsArgs, dir), Timeout: 30 * time.Second}},
		orchestrator.ServerConfig{Config: connectors.Config{Name: "memory", Command: memCmd, Args: memArgs, Timeout: 30 * time.Second,
			Env: map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")}}},
	)
	res := run(t, f, workflows.OrchestratorCaller{O: o}, map[string]any{"dir": dir})
	if got := strings.Join(strs(res.Outputs["notes"]), ","); got != "alpha,beta,gamma" {
		t.Fatalf("notes %q; outputs %v", got, res.Outputs)
	}
	skipped := strs(res.Outputs["skipped"])
	sort.Strings(skipped)
	if strings.Join(skipped, ",") != "delta.txt~,readme.md" {
		t.Errorf("skipped %v", skipped)
	}
	if n, _ := res.Outputs["observations"].(int); n != 4 {
		t.Errorf("observations %v, want 4", res.Outputs["observations"])
	}
}

// TestEverythingTour runs every step kind against server-everything over
// stdio through the orchestrator.
func TestEverythingTour(t *testing.T) {
	f := load(t, "everything-tour.flow.yaml")
	cmd, args := testenv.NPMServer(t, "mcp-server-everything")
	o := newOrchestrator(t, orchestrator.ServerConfig{Config: connectors.Config{Name: "everything", Command: cmd, Args: append(args, "stdio"), Timeout: 30 * time.Second}})
	res := run(t, f, workflows.OrchestratorCaller{O: o}, nil)
	out := res.Outputs
	checks := map[string]string{
		"sums":            `[3,7,7]`,
		"skipped_pairs":   `[[0,0]]`,
		"optional_failed": `true`,
	}
	for k, want := range checks {
		if got := toJSON(out[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if temps, _ := out["temperatures"].([]any); len(temps) != 2 {
		t.Errorf("temperatures %v", out["temperatures"])
	}
	if text, _ := out["echo_text"].(string); !strings.Contains(text, "sums: 3, 7, 7; 2 cities") {
		t.Errorf("echo_text %q", out["echo_text"])
	}
	if text, _ := out["doc_text"].(string); !strings.Contains(text, "Resource 4") {
		t.Errorf("doc_text %q", out["doc_text"])
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
