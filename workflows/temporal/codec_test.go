package temporal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/mediatorhq/mediator/workflows/temporal"
)

// With the codec on, neither an argument, nor a result, nor an error
// message quoting a value appears anywhere in the raw history (the
// workflow's input and result, activities' arguments and results,
// failures); the run still replays, and ends as it does without the
// codec, whose history does show them (so the check can see them).
func TestCodecKeepsValuesOutOfHistory(t *testing.T) {
	needServer(t)
	const argCanary, uriCanary = "canary-arg-5b1e9d", "canary-uri-c07a42"
	src := `version: 1
name: codec
steps:
  - id: e
    call: {server: a, tool: echo}
    with: {secret: ` + argCanary + `}
  - id: r
    read: {server: a, uri: "test://a/` + uriCanary + `"}
    on_error: continue
outputs:
  echoed: ${ .steps.e.result.secret }
  error: ${ .steps.r.error.message }
  class: ${ .steps.r.error.class }
`
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	codec, err := temporal.NewCodec("test-key-1", key)
	if err != nil {
		t.Fatal(err)
	}
	dc, fc := temporal.Converters(codec)
	withCodec, err := client.NewClientFromExisting(testClient, client.Options{Namespace: testNamespace, DataConverter: dc, FailureConverter: fc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer withCodec.Close()

	var outs []string
	for _, tc := range []struct {
		name   string
		c      client.Client
		opts   worker.WorkflowReplayerOptions
		canary bool
	}{
		{"without the codec", testClient, worker.WorkflowReplayerOptions{}, true},
		{"with the codec", withCodec, worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: fc}, false},
	} {
		r := newRig(t, tc.c, newWorld(t, "a"))
		r.replayer = tc.opts
		out, h := r.run(t, "codec-"+slug(tc.name), src, nil)
		if out.Outputs["echoed"] != argCanary || !strings.Contains(out.Outputs["error"].(string), uriCanary) || out.Outputs["class"] != "protocol" {
			t.Fatalf("%s: outputs %v", tc.name, out.Outputs)
		}
		raw, err := proto.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, canary := range []string{argCanary, uriCanary} {
			if got := bytes.Contains(raw, []byte(canary)); got != tc.canary {
				t.Errorf("%s: %s in the raw history: %v, want %v", tc.name, canary, got, tc.canary)
			}
		}
		r.replay(t, h)
		out.RunID = "" // the workflow ids differ
		outs = append(outs, comparable(out))
	}
	if outs[0] != outs[1] {
		t.Errorf("the runs differ:\nwithout %s\n   with %s", outs[0], outs[1])
	}

	// A client with another key cannot read the run's result.
	other, err := temporal.NewCodec("test-key-2", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	odc, ofc := temporal.Converters(other)
	wrongKey, err := client.NewClientFromExisting(testClient, client.Options{Namespace: testNamespace, DataConverter: odc, FailureConverter: ofc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer wrongKey.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out temporal.FlowOutput
	if err := wrongKey.GetWorkflow(ctx, "codec-with-the-codec", "").Get(ctx, &out); err == nil || !strings.Contains(err.Error(), "test-key-1") {
		t.Errorf("result read with another key: %v, %v", out.Outputs, err)
	}
}
