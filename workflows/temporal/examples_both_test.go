package temporal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/testenv"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// exampleWorld is what one run of an example flow needs: its inputs and
// its servers, fresh for each runtime (the servers keep state), as
// factories so that each Temporal worker can start its own.
type exampleWorld struct {
	inputs  map[string]any
	servers map[string]func() orchestrator.ServerConfig
	// normalize, when set, takes out of the outputs what a server makes
	// differ between any two runs (a clock's reading).
	normalize func(outputs map[string]any)
}

// exampleRuns are the example flows TestEveryExampleOnBothRuntimes runs,
// by file name, with how to make each run's world.
var exampleRuns = map[string]func(t *testing.T) exampleWorld{
	"everything-tour.flow.yaml": func(t *testing.T) exampleWorld {
		cmd, args := testenv.NPMServer(t, "mcp-server-everything")
		return exampleWorld{servers: map[string]func() orchestrator.ServerConfig{
			"everything": func() orchestrator.ServerConfig {
				return orchestrator.ServerConfig{Config: connectors.Config{Name: "everything", Command: cmd, Args: append(slices.Clone(args), "stdio"), Timeout: 30 * time.Second}}
			},
		}, normalize: func(outputs map[string]any) {
			// The dynamic resource says when the server made it.
			if s, ok := outputs["doc_text"].(string); ok {
				outputs["doc_text"] = createdAt.ReplaceAllString(s, "created at (time)")
			}
		}}
	},
	"notes-to-memory.flow.yaml": func(t *testing.T) exampleWorld {
		dir := notesDir(t, map[string]string{
			"alpha.txt":  "Alpha is the first letter.\nIt starts the alphabet.\n",
			"beta.txt":   "Beta comes second.\n",
			"readme.md":  "not a note",
			"gamma.txt~": "a backup, not a note",
		})
		return exampleWorld{inputs: map[string]any{"dir": dir}, servers: filesAndMemory(t, dir)}
	},
	"nightly-notes.flow.yaml": func(t *testing.T) exampleWorld {
		// The export has landed already (its marker is there), so the
		// wait ends at its first poll on both runtimes; one note of four
		// has no title and is set aside (25% may fail).
		dir := notesDir(t, map[string]string{
			"alpha.md":    "# Alpha\nThe first letter.\n",
			"beta.md":     "# Beta\nComes second.\n",
			"gamma.md":    "# Gamma\nRays are energetic.\n",
			"scratch.md":  "just some words, no title\n",
			"readme.txt":  "not a note: not .md",
			"EXPORT_DONE": "",
		})
		return exampleWorld{inputs: map[string]any{"inbox": dir}, servers: filesAndMemory(t, dir)}
	},
}

var createdAt = regexp.MustCompile(`created at [0-9:]+ [AP]M`)

// examplesRunElsewhere are the example flows another test runs on both
// runtimes, by file name, with the test's name.
var examplesRunElsewhere = map[string]string{
	"rain-reminders.flow.yaml":     "TestExampleFlowsThroughOrchestrators",
	"rain-reminders-sub.flow.yaml": "TestExampleFlowsThroughOrchestrators",
}

// examplesNotRun are the example flows not run on both runtimes, by file
// name, with the reason (what they need that a test here cannot have).
// None today.
var examplesNotRun = map[string]string{}

func notesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// filesAndMemory are server-filesystem (allowed dir) and server-memory
// (a file of its own) over stdio.
func filesAndMemory(t *testing.T, dir string) map[string]func() orchestrator.ServerConfig {
	fsCmd, fsArgs := testenv.NPMServer(t, "mcp-server-filesystem")
	memCmd, memArgs := testenv.NPMServer(t, "mcp-server-memory")
	memory := filepath.Join(t.TempDir(), "memory.jsonl")
	return map[string]func() orchestrator.ServerConfig{
		"files": func() orchestrator.ServerConfig {
			return orchestrator.ServerConfig{Config: connectors.Config{Name: "files", Command: fsCmd, Args: append(slices.Clone(fsArgs), dir), Timeout: 30 * time.Second}}
		},
		"memory": func() orchestrator.ServerConfig {
			return orchestrator.ServerConfig{Config: connectors.Config{Name: "memory", Command: memCmd, Args: memArgs, Timeout: 30 * time.Second,
				Env: map[string]string{"MEMORY_FILE_PATH": memory}}}
		},
	}
}

// Every example flow ends alike on both runtimes: the same status, step
// statuses and outputs locally (one orchestrator holding every server)
// and under Temporal (a flow worker, and per server a worker whose
// orchestrator holds only that server). Each example is run here, or by
// the test named in examplesRunElsewhere, or listed in examplesNotRun
// with why; an example in none of them fails the test, so the list of
// examples cannot grow past it unnoticed.
func TestEveryExampleOnBothRuntimes(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "flows")
	paths, err := filepath.Glob(filepath.Join(dir, "*.flow.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example flows in %s (%v)", dir, err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	for _, lists := range []map[string]string{examplesRunElsewhere, examplesNotRun} {
		for name := range lists {
			if !slices.Contains(names, name) {
				t.Errorf("%s is listed but is not an example flow in %s", name, dir)
			}
		}
	}
	for name := range exampleRuns {
		if !slices.Contains(names, name) {
			t.Errorf("%s is listed but is not an example flow in %s", name, dir)
		}
	}
	for _, name := range names {
		makeWorld, run := exampleRuns[name]
		switch {
		case run:
			t.Run(name, func(t *testing.T) { exampleOnBothRuntimes(t, filepath.Join(dir, name), makeWorld) })
		case examplesRunElsewhere[name] != "":
			t.Logf("%s: run on both runtimes by %s", name, examplesRunElsewhere[name])
		case examplesNotRun[name] != "":
			t.Logf("%s: not run on both runtimes: %s", name, examplesNotRun[name])
		default:
			t.Errorf("example flow %s is not run on both runtimes: add it to exampleRuns, or to examplesNotRun with the reason", name)
		}
	}
}

func exampleOnBothRuntimes(t *testing.T, path string, makeWorld func(t *testing.T) exampleWorld) {
	c := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runID := "both-" + slug(filepath.Base(path))

	lw := makeWorld(t)
	var servers []string
	var cfgs []orchestrator.ServerConfig
	for s, cfg := range lw.servers {
		servers = append(servers, s)
		cfgs = append(cfgs, cfg())
	}
	slices.Sort(servers)
	fl, probs, err := workflows.LoadForRun(ctx, path, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("LoadForRun: %v %v", err, probs)
	}
	lo, _ := newAudited(t, cfgs...)
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: lo}),
		Inputs: lw.inputs, RunID: runID, TrustAnnotations: func(string) bool { return true }})
	if res == nil {
		t.Fatal(err)
	}
	local := toOutput(res)
	if local.Status != workflows.RunSucceeded {
		t.Fatalf("local run %s (%s), steps %v", local.Status, local.Error, local.Steps)
	}

	tw := makeWorld(t)
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, Decides: true}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	start(t, fw)
	for s, cfg := range tw.servers {
		o, _ := newAudited(t, cfg())
		aw := worker.New(c, flows.Queue(s), worker.Options{})
		(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
		start(t, aw)
	}
	in, probs, err := temporal.ReadFlowInput(ctx, path, flow.ValidateOptions{})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("ReadFlowInput: %v %v", err, probs)
	}
	in.Inputs, in.TrustedServers = tw.inputs, servers
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: runID, TaskQueue: prefix + "flows"}, temporal.WorkflowRunFlow, in)
	if err != nil {
		t.Fatal(err)
	}
	var remote temporal.FlowOutput
	if err := run.Get(ctx, &remote); err != nil {
		t.Fatal(err)
	}
	if lw.normalize != nil {
		lw.normalize(local.Outputs)
		tw.normalize(remote.Outputs)
	}
	if got, want := comparable(&remote), comparable(local); got != want {
		t.Fatalf("temporal and local runs differ:\ntemporal %s\n   local %s", got, want)
	}
	t.Logf("both: %s", comparable(local))
	(&rig{c: c, flows: flows, prefix: prefix}).replay(t, history(ctx, t, c, runID, run.GetRunID()))
}
