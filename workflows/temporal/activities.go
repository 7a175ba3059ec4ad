package temporal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Activity names, as registered by Activities.Register.
const (
	ActivityCallTool     = "mediator.CallTool"
	ActivityTool         = "mediator.Tool"
	ActivityReadResource = "mediator.ReadResource"
)

// Activities make a flow's calls on the worker that holds the servers'
// sessions and credentials: each one through Caller
// (workflows.OrchestratorCaller in production, so the policy, argument
// checks and audit apply there), its result or failure returned as the
// caller gives it. Nothing a caller resolves (a token, a key) is in their
// inputs or outputs.
type Activities struct {
	Caller workflows.ToolCaller
	// MaxPayloadBytes bounds the JSON of a result an activity returns;
	// zero uses DefaultMaxPayloadBytes. A larger result fails the attempt
	// with class protocol (asked again, the server would answer the
	// same) instead of failing to reach history.
	MaxPayloadBytes int
}

// DefaultMaxPayloadBytes is Temporal's default limit on one payload
// (the server's limit.blobSize.error, 2 MiB) less room for the payload's
// metadata.
const DefaultMaxPayloadBytes = 2<<20 - 4<<10

// fits returns an error when v's JSON is over the payload limit.
func (a *Activities) fits(what string, v any) error {
	limit := a.MaxPayloadBytes
	if limit <= 0 {
		limit = DefaultMaxPayloadBytes
	}
	b, err := json.Marshal(v)
	if err != nil {
		return &workflows.CallError{Class: workflows.ClassProtocol, Err: fmt.Errorf("%s does not encode as JSON: %w", what, err)}
	}
	if len(b) > limit {
		return &workflows.CallError{Class: workflows.ClassProtocol,
			Err: fmt.Errorf("%s is %d bytes of JSON, over the %d bytes a Temporal payload may carry", what, len(b), limit)}
	}
	return nil
}

// Register registers the activities under their names (Activity*).
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.CallTool, activity.RegisterOptions{Name: ActivityCallTool})
	r.RegisterActivityWithOptions(a.Tool, activity.RegisterOptions{Name: ActivityTool})
	r.RegisterActivityWithOptions(a.ReadResource, activity.RegisterOptions{Name: ActivityReadResource})
}

// CallInput is a workflows.CallRequest as it travels in history: all of
// it but OnTask (a function; the activity records the task in its
// heartbeat details instead).
type CallInput struct {
	Server       string          `json:"server"`
	Tool         string          `json:"tool"`
	Args         map[string]any  `json:"args,omitempty"`
	Meta         mcp.Meta        `json:"meta,omitempty"`
	Run          string          `json:"run"`
	Step         string          `json:"step"`
	Sources      []string        `json:"sources,omitempty"`
	Flows        []flow.FlowEdge `json:"flows,omitempty"`
	FlowFile     string          `json:"flow_file,omitempty"`
	Timeout      time.Duration   `json:"timeout,omitempty"`
	ResumeTaskID string          `json:"resume_task_id,omitempty"`
}

func callInput(r workflows.CallRequest) CallInput {
	return CallInput{Server: r.Server, Tool: r.Tool, Args: r.Args, Meta: r.Meta, Run: r.Run, Step: r.Step,
		Sources: r.Sources, Flows: r.Flows, FlowFile: r.FlowFile, Timeout: r.Timeout, ResumeTaskID: r.ResumeTaskID}
}

func (in CallInput) request() workflows.CallRequest {
	return workflows.CallRequest{Server: in.Server, Tool: in.Tool, Args: in.Args, Meta: in.Meta, Run: in.Run, Step: in.Step,
		Sources: in.Sources, Flows: in.Flows, FlowFile: in.FlowFile, Timeout: in.Timeout, ResumeTaskID: in.ResumeTaskID}
}

// ToolInput names one tool of a server.
type ToolInput struct {
	Server string `json:"server"`
	Tool   string `json:"tool"`
}

// ReadInput is a workflows.ReadRequest as it travels in history.
type ReadInput = workflows.ReadRequest

func readInput(r workflows.ReadRequest) ReadInput { return r }

// CallTool makes one attempt of a call, bounded by the step's timeout as
// the local runtime bounds it (an attempt that runs out of it fails with
// an error wrapping workflows.ErrAttemptTimeout).
// Its heartbeat details (CallDetails) carry the server's latest progress
// report and the MCP task the call runs as.
func (a *Activities) CallTool(ctx context.Context, in CallInput) (*mcp.CallToolResult, error) {
	ctx, b, stop := heartbeat(ctx, CallDetails{Path: in.Step, Server: in.Server, Tool: in.Tool, TaskID: in.ResumeTaskID})
	defer stop()
	req := in.request()
	req.OnTask = func(id string) { b.update(func(d *CallDetails) { d.TaskID = id }) }
	res, err := workflows.NewLocalRuntime(a.Caller).CallTool(ctx, req)
	if err != nil {
		if res != nil && a.fits("", res) != nil {
			res = nil // the error alone, then
		}
		return nil, encodeFailure(err, res)
	}
	if err := a.fits(fmt.Sprintf("the result of %s.%s", in.Server, in.Tool), res); err != nil {
		return nil, encodeFailure(err, nil)
	}
	return res, nil
}

// Tool describes one tool of a server. It heartbeats as a call does: a
// first lookup may wait for the server's session to open, longer than the
// heartbeat timeout.
func (a *Activities) Tool(ctx context.Context, in ToolInput) (*mcp.Tool, error) {
	ctx, _, stop := heartbeat(ctx, CallDetails{Server: in.Server, Tool: in.Tool})
	defer stop()
	t, err := a.Caller.Tool(ctx, in.Server, in.Tool)
	if err == nil {
		err = a.fits(fmt.Sprintf("the definition of %s.%s", in.Server, in.Tool), t)
	}
	if err != nil {
		return nil, encodeFailure(err, nil)
	}
	return t, nil
}

// ReadResource makes one resources/read, bounded as CallTool is.
func (a *Activities) ReadResource(ctx context.Context, in ReadInput) (*mcp.ReadResourceResult, error) {
	ctx, _, stop := heartbeat(ctx, CallDetails{Path: in.Step, Server: in.Server})
	defer stop()
	res, err := workflows.NewLocalRuntime(a.Caller).ReadResource(ctx, in)
	if err == nil {
		err = a.fits(fmt.Sprintf("resource %s of %s", in.URI, in.Server), res)
	}
	if err != nil {
		return nil, encodeFailure(err, nil)
	}
	return res, nil
}
