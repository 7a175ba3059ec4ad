package temporal

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// overTheWire is err as a workflow gets it back from an activity: turned
// into a Failure and back by the SDK's default failure converter.
func overTheWire(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

// A ToolCaller's error keeps, across the activity boundary, everything
// the interpreter classifies it by.
func TestFailureRoundTrip(t *testing.T) {
	base := errors.New("the server said no")
	answer := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done, not audited"}}}
	tests := []struct {
		name  string
		err   error
		res   *mcp.CallToolResult
		check func(t *testing.T, got error)
	}{
		{
			name: "a flow refusal in a class",
			err:  &workflows.CallError{Class: workflows.ClassRefused, Err: &workflows.FlowRefusedError{From: []string{"b", "c"}, To: "a", Err: base}},
			check: func(t *testing.T, got error) {
				var fr *workflows.FlowRefusedError
				var ce *workflows.CallError
				if !errors.As(got, &fr) || fmt.Sprint(fr.From) != "[b c]" || fr.To != "a" {
					t.Errorf("flow refusal lost: %#v", fr)
				}
				if !errors.As(got, &ce) || ce.Class != workflows.ClassRefused {
					t.Errorf("class lost: %#v", ce)
				}
			},
		},
		{
			name: "a JSON-RPC error answer",
			err:  fmt.Errorf("read x of b: %w", &jsonrpc.Error{Code: -32002, Message: "Resource not found"}),
			check: func(t *testing.T, got error) {
				var je *jsonrpc.Error
				if !errors.As(got, &je) || je.Code != -32002 || je.Message != "Resource not found" {
					t.Errorf("JSON-RPC error lost: %#v", je)
				}
			},
		},
		{
			name: "the step's timeout",
			err:  fmt.Errorf("a.slow: %w: %w", context.DeadlineExceeded, workflows.ErrAttemptTimeout),
			check: func(t *testing.T, got error) {
				if !errors.Is(got, workflows.ErrAttemptTimeout) || !errors.Is(got, context.DeadlineExceeded) {
					t.Errorf("timeout lost: %v", got)
				}
			},
		},
		{
			name: "a task the server no longer knows",
			err:  fmt.Errorf("attach: %w", connectors.ErrTaskNotFound),
			check: func(t *testing.T, got error) {
				if !errors.Is(got, connectors.ErrTaskNotFound) {
					t.Errorf("task not found lost: %v", got)
				}
			},
		},
		{
			name: "an answer beside the error",
			err:  &workflows.CallError{Class: workflows.ClassTransport, Err: base},
			res:  answer,
			check: func(t *testing.T, got error) {
				res := failureResult(got)
				if res == nil || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "done, not audited" {
					t.Errorf("answer lost: %#v", res)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeFailure(overTheWire(encodeFailure(tt.err, tt.res)), time.Second)
			if got == nil || got.Error() != tt.err.Error() {
				t.Fatalf("message %v, want %q", got, tt.err.Error())
			}
			tt.check(t, got)
		})
	}
}

// A start-to-close timeout is the step's timeout when the step set one,
// else the server's; a heartbeat timeout (a worker lost mid-call) and an
// error that is not a call's failure are transport failures.
func TestDecodeOtherFailures(t *testing.T) {
	timeout := overTheWire(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil))
	if err := decodeFailure(timeout, time.Second); !errors.Is(err, workflows.ErrAttemptTimeout) {
		t.Errorf("with a step timeout: %v, want ErrAttemptTimeout", err)
	}
	var ce *workflows.CallError
	if err := decodeFailure(timeout, 0); !errors.As(err, &ce) || ce.Class != workflows.ClassTimeout || errors.Is(err, workflows.ErrAttemptTimeout) {
		t.Errorf("without one: %v, want class timeout", err)
	}
	lost := overTheWire(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil))
	if err := decodeFailure(lost, time.Second); !errors.As(err, &ce) || ce.Class != workflows.ClassTransport || errors.Is(err, workflows.ErrAttemptTimeout) {
		t.Errorf("a heartbeat timeout: %v, want class transport", err)
	}
	other := overTheWire(temporal.NewApplicationError("worker panicked", "PanicError"))
	if err := decodeFailure(other, 0); !errors.As(err, &ce) || ce.Class != workflows.ClassTransport {
		t.Errorf("another failure: %v, want class transport", err)
	}
}
