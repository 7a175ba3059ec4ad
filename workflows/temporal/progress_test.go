package temporal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// A server's progress report about a call in flight reaches a client
// through Progress (the pending activity's heartbeat details, decoded
// with the codec) as an EventProgress of the call's path, while the call
// runs, and never enters history.
func TestProgressDuringCall(t *testing.T) {
	needServer(t)
	const message = "chunk-1-of-4-canary"
	release := make(chan chan struct{}, 1)
	srv := mcp.NewServer(&mcp.Implementation{Name: "work", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "crunch", InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			if token == nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no progress token"}}}, nil
			}
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: 1, Total: 4, Message: message}); err != nil {
				return nil, err
			}
			r := <-release
			select {
			case <-r:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &mcp.CallToolResult{StructuredContent: map[string]any{"ok": true}, Content: []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}}}, nil
		})
	o, _ := newAudited(t, orchestrator.ServerConfig{
		Config: connectors.Config{Name: "work", Timeout: time.Minute},
		NewTransport: func(context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			_, err := srv.Connect(context.Background(), st, nil)
			return ct, err
		},
	})

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	codec, err := temporal.NewCodec("progress-key", key)
	if err != nil {
		t.Fatal(err)
	}
	dc, fc := temporal.Converters(codec)
	withCodec, err := client.NewClientFromExisting(testClient, client.Options{Namespace: testNamespace, DataConverter: dc, FailureConverter: fc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer withCodec.Close()
	for _, tc := range []struct {
		name  string
		c     client.Client
		codec *temporal.Codec
		child bool
	}{{"plain", testClient, nil, false}, {"codec", withCodec, codec, false}, {"child", testClient, nil, true}} {
		t.Run(tc.name, func(t *testing.T) { progressDuringCall(t, o, release, tc.c, tc.codec, tc.child, message) })
	}
}

// progressDuringCall runs the call, in a child workflow of the run when
// child is set (as a batch of a large for_each runs), and reads its
// progress through the run.
func progressDuringCall(t *testing.T, o *orchestrator.Orchestrator, release chan chan struct{}, c client.Client, codec *temporal.Codec, child bool, message string) {
	prefix := fmt.Sprintf("%s-%d.", slug(t.Name()), rigs.Add(1))
	flows := &temporal.Flows{Queue: func(s string) string { return prefix + temporal.QueueFor(s) }, Decides: true}
	fw := worker.New(c, prefix+"flows", worker.Options{})
	flows.Register(fw)
	id := "progress-" + slug(t.Name())
	wf := temporal.WorkflowRunFlow
	if child {
		wf = "test.ProgressParent"
		fw.RegisterWorkflowWithOptions(func(ctx workflow.Context, in temporal.FlowInput) (*temporal.FlowOutput, error) {
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id + "/child", TaskQueue: prefix + "flows"})
			var out temporal.FlowOutput
			err := workflow.ExecuteChildWorkflow(cctx, temporal.WorkflowRunFlow, in).Get(ctx, &out)
			return &out, err
		}, workflow.RegisterOptions{Name: wf})
	}
	start(t, fw)
	aw := worker.New(c, flows.Queue("work"), worker.Options{})
	(&temporal.Activities{Caller: workflows.OrchestratorCaller{O: o}}).Register(aw)
	start(t, aw)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	release <- done
	src := `version: 1
name: progress
steps:
  - id: crunch
    call: {server: work, tool: crunch}
outputs:
  ok: ${ .steps.crunch.result.ok }
`
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: prefix + "flows"},
		wf, temporal.FlowInput{Path: "progress.flow.yaml", Source: []byte(src), TrustedServers: []string{"work"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen temporal.EventView
	for seen.Progress == nil {
		views, err := temporal.Progress(ctx, c, codec, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			if v.Kind == workflows.EventProgress && v.Path == "crunch" && v.Progress != nil && v.Progress.Message == message {
				seen = v
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no progress report of crunch seen: %+v", views)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if seen.Progress.Progress != 1 || seen.Progress.Total != 4 || seen.Time.IsZero() {
		t.Errorf("progress view %+v (report %+v)", seen, *seen.Progress)
	}
	if _, err := temporal.Progress(ctx, testClient, nil, id); (err == nil) != (codec == nil) {
		t.Errorf("heartbeat details read without the codec: %v", err)
	}
	close(done)

	var out temporal.FlowOutput
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != workflows.RunSucceeded || out.Outputs["ok"] != true {
		t.Fatalf("run %s, outputs %v: %s", out.Status, out.Outputs, out.Error)
	}
	if views, err := temporal.Progress(ctx, c, codec, id); err != nil || len(views) != 0 {
		t.Errorf("progress after the run: %+v, %v", views, err)
	}
	h := history(ctx, t, testClient, id, run.GetRunID())
	raw, err := proto.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(message)) {
		t.Error("the progress report is in history")
	}
	r := &rig{c: c, flows: flows, prefix: prefix}
	if codec != nil {
		dc, fc := temporal.Converters(codec)
		r.replayer = worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: fc}
	}
	if !child {
		r.replay(t, h)
	}
}
