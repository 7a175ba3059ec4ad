package flows_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// nightlyRig is an inbox of notes and the filesystem (allowed the inbox)
// and memory npm servers over stdio, behind an orchestrator with an audit
// log.
type nightlyRig struct {
	inbox   string
	caller  workflows.OrchestratorCaller
	journal *workflows.Journal
}

func newNightlyRig(t *testing.T, notes map[string]string) *nightlyRig {
	t.Helper()
	fsCmd, fsArgs := testenv.NPMServer(t, "mcp-server-filesystem")
	memCmd, memArgs := testenv.NPMServer(t, "mcp-server-memory")
	inbox := t.TempDir()
	for name, body := range notes {
		if err := os.WriteFile(filepath.Join(inbox, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := newOrchestrator(t,
		orchestrator.ServerConfig{Config: connectors.Config{Name: "files", Command: fsCmd, Args: append(fsArgs, inbox), Timeout: 30 * time.Second}},
		orchestrator.ServerConfig{Config: connectors.Config{Name: "memory", Command: memCmd, Args: memArgs, Timeout: 30 * time.Second,
			Env: map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")}}},
	)
	j, err := workflows.OpenJournal(filepath.Join(t.TempDir(), workflows.JournalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &nightlyRig{inbox: inbox, caller: workflows.OrchestratorCaller{O: o}, journal: j}
}

func (r *nightlyRig) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.inbox, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (r *nightlyRig) exists(name string) bool {
	_, err := os.Stat(filepath.Join(r.inbox, name))
	return err == nil
}

// entities are the names of the memory graph's entities matching query.
func (r *nightlyRig) entities(t *testing.T, query string) []string {
	t.Helper()
	res, err := r.caller.CallTool(t.Context(), workflows.CallRequest{Server: "memory", Tool: "search_nodes", Args: map[string]any{"query": query}})
	if err != nil || res.IsError {
		t.Fatalf("search_nodes: %v %v", err, res)
	}
	m, _ := res.StructuredContent.(map[string]any)
	var out []string
	for _, e := range m["entities"].([]any) {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	slices.Sort(out)
	return out
}

const (
	goodNotes = 3
	titleless = "just some words, no title\n"
)

func nightlyNotes(bad ...string) map[string]string {
	notes := map[string]string{
		"alpha.md":   "# Alpha\nThe first letter.\n\nIt starts the alphabet.\n",
		"beta.md":    "# Beta\nComes second.\n",
		"gamma.md":   "# Gamma\nRays are energetic.\n",
		"readme.txt": "not a note: not .md",
	}
	for _, name := range bad {
		notes[name] = titleless
	}
	return notes
}

// TestNightlyNotes runs nightly-notes.flow.yaml, which uses issue 13's
// features together (a run timeout, a wait for a condition, a for_each
// of sub-flow runs with tolerated failures, the sub-flow's own timeout and
// finally, the run's finally), against server-filesystem and
// server-memory over stdio through the orchestrator. It validates against
// the live tools, graphs, dry-runs, then runs: it waits for the export's
// marker (written once the first poll saw none), files the good notes,
// sets the bad one aside, reports, and cleans up.
func TestNightlyNotes(t *testing.T) {
	f := load(t, "nightly-notes.flow.yaml")
	r := newNightlyRig(t, nightlyNotes("scratch.md"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	if ps := flow.Validate(ctx, f, flow.ValidateOptions{Catalog: r.caller, TrustAnnotations: trustAll, ReadFile: os.ReadFile}); len(ps) > 0 {
		t.Fatalf("validate --connect:\n%v", ps)
	}
	var graph strings.Builder
	if err := flow.BuildGraph(f).WriteMermaid(&graph); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"for each ≤1 · tolerate 25% failed", "until, every 1s ≤20m", "sub-flow lib/file-note.flow.yaml (file-note), timeout 2m", "files.move_file<br/><i>if · finally</i>", "subgraph finally"} {
		if !strings.Contains(graph.String(), want) {
			t.Errorf("graph lacks %q:\n%s", want, graph.String())
		}
	}

	// A dry run reads for real (the listing, the notes) and plans the rest.
	dr := &workflows.DryRun{Inner: workflows.NewLocalRuntime(r.caller), CallReadOnly: true, TrustAnnotations: trustAll, Flow: f}
	if _, err := workflows.Run(ctx, f, workflows.RunOptions{Runtime: dr, Inputs: map[string]any{"inbox": r.inbox}, TrustAnnotations: trustAll}); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	var plan []string
	for _, c := range dr.Plan() {
		if c.Uncallable || (c.Problem != "" && !strings.Contains(c.Path, "uses/create")) {
			t.Errorf("dry run: %s: %s", c.Path, c.Problem)
		}
		plan = append(plan, c.Path)
	}
	joined := strings.Join(plan, " ")
	for _, want := range []string{"mark export_done rejected_dir file[0].uses/read", "uses/finally/reject", "check report finally/unmark finally/status"} {
		if !strings.Contains(joined, want) {
			t.Errorf("plan lacks %q: %s", want, joined)
		}
	}
	if r.exists("rejected/scratch.md") || !r.exists("scratch.md") || len(r.entities(t, "nightly")) > 0 {
		t.Fatal("the dry run changed something")
	}

	// The run: the export lands once the first poll has seen it missing.
	var once sync.Once
	progress := func(ev workflows.Event) {
		if ev.Kind == workflows.EventPolling && ev.Path == "export_done" {
			once.Do(func() {
				if err := os.WriteFile(filepath.Join(r.inbox, "EXPORT_DONE"), nil, 0o600); err != nil {
					t.Error(err)
				}
			})
		}
	}
	res, err := workflows.Run(ctx, f, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(r.caller), Journal: r.journal,
		Inputs: map[string]any{"inbox": r.inbox}, TrustAnnotations: trustAll, Progress: progress})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := strings.Join(strs(res.Outputs["filed"]), ","); got != "Alpha,Beta,Gamma" {
		t.Errorf("filed %s", got)
	}
	if got := strings.Join(strs(res.Outputs["rejected"]), ","); got != "scratch.md" {
		t.Errorf("rejected %s", got)
	}
	if n, _ := res.Outputs["polls"].(int); n < 2 {
		t.Errorf("export_done took %v attempts; the first saw no EXPORT_DONE", res.Outputs["polls"])
	}
	if res.Finally == nil || res.Finally.Status != workflows.StatusSucceeded {
		t.Fatalf("finally %+v", res.Finally)
	}

	// What the servers now hold.
	if got := r.entities(t, "note"); strings.Join(got, ",") != "Alpha,Beta,Gamma" {
		t.Errorf("the graph's notes: %v", got)
	}
	if got := r.entities(t, "nightly-notes"); len(got) != 0 {
		t.Errorf("the run's marker is still in the graph: %v", got)
	}
	if !r.exists("rejected/scratch.md") || r.exists("scratch.md") || !r.exists("alpha.md") {
		t.Error("scratch.md was not moved to rejected/, or a good note was")
	}
	if got := r.read(t, "nightly-report.txt"); got != "filed 3 of 4 notes: Alpha, Beta, Gamma\nrejected: scratch.md\n" {
		t.Errorf("report %q", got)
	}
	if got := r.read(t, "nightly-status.txt"); got != res.RunID+": succeeded\n" {
		t.Errorf("status file %q", got)
	}

	// The journal: every poll, each sub-flow run's calls and finally step
	// under the step's path, the run's finally.
	rec, err := r.journal.Run(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != workflows.RunSucceeded || rec.Finally != workflows.StatusSucceeded || rec.Timeout != 30*time.Minute {
		t.Errorf("run record: %+v", rec)
	}
	atts, err := r.journal.Attempts(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	byStep := map[string][]*workflows.AttemptRecord{}
	for _, a := range atts {
		byStep[a.Step] = append(byStep[a.Step], a)
	}
	if n := len(byStep["export_done"]); n < 2 {
		t.Errorf("%d polls journalled", n)
	}
	if n := len(byStep["file.uses/create"]); n != goodNotes+1 {
		t.Errorf("%d create attempts journalled, want %d", n, goodNotes+1)
	}
	rejects := byStep["file.uses/finally/reject"]
	if len(rejects) != 1 || rejects[0].State != workflows.AttemptSucceeded || !strings.HasPrefix(rejects[0].Path, "file[") {
		t.Errorf("reject attempts %+v", rejects)
	}
	for _, step := range []string{"finally/unmark", "finally/status"} {
		if a := byStep[step]; len(a) != 1 || a[0].State != workflows.AttemptSucceeded {
			t.Errorf("%s: %+v", step, a)
		}
	}
}

// TestNightlyNotesTooManyBad: past tolerate_failures the run fails, and
// its finally steps still take the marker down and record the failure.
func TestNightlyNotesTooManyBad(t *testing.T) {
	f := load(t, "nightly-notes.flow.yaml")
	notes := nightlyNotes("scratch.md", "todo.md")
	notes["EXPORT_DONE"] = ""
	r := newNightlyRig(t, notes)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := workflows.Run(ctx, f, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(r.caller), Journal: r.journal,
		Inputs: map[string]any{"inbox": r.inbox}, TrustAnnotations: trustAll})
	if res == nil || res.Status != workflows.RunFailed || err == nil || !strings.Contains(err.Error(), "more than tolerate_failures: 25% allows") {
		t.Fatalf("run %+v: %v", res, err)
	}
	if res.Finally == nil || res.Finally.Status != workflows.StatusSucceeded {
		t.Fatalf("finally %+v", res.Finally)
	}
	if got := r.read(t, "nightly-status.txt"); got != res.RunID+": failed\n" {
		t.Errorf("status file %q", got)
	}
	if got := r.entities(t, "nightly-notes"); len(got) != 0 {
		t.Errorf("the run's marker is still in the graph: %v", got)
	}
	if r.exists("nightly-report.txt") {
		t.Error("a failed run wrote its report")
	}
}
