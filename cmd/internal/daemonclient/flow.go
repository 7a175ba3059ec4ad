package daemonclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// FlowCaller is a workflows.ToolCaller whose calls the daemon makes with
// workflows.OrchestratorCaller over its orchestrator: the data-flow
// policy decided there with each call's sources and the flow file's
// flows:, the call audited there with its run and step. The run itself,
// its journal included, stays in the CLI.
//
// Results come back with the secrets the daemon knows masked (the CLI has
// not opened the keyring, so its journal could not mask them): a step
// that passes a secret of one server's answer on passes the mask.
type FlowCaller struct {
	c *Client
	// red learns the secrets the daemon finds in the run's own texts
	// (LearnSecrets) and in its calls' arguments.
	red *credentials.Redactor

	mu sync.Mutex
	// auditErrs are the failures to record the calls made, which
	// SyncAudit reports.
	auditErrs []error
}

// FlowCaller returns the daemon's calls for a run.
func (o *Orchestrator) FlowCaller() *FlowCaller { return &FlowCaller{c: o.c} }

var _ workflows.ToolCaller = (*FlowCaller)(nil)

// LearnSecrets is Client.LearnSecrets: before a run, the CLI teaches its
// redactor the secrets its own texts (inputs, flow files) hold.
// Later, each call's answer names the secret places in its arguments
// (a value the flow assembled), which red learns too.
func (f *FlowCaller) LearnSecrets(ctx context.Context, red *credentials.Redactor, texts []string) error {
	f.red = red
	return f.c.LearnSecrets(ctx, red, texts)
}

// DecidesFlows is true: the daemon's orchestrator decides every call's
// flows, as the CLI's would (workflows.FlowDecider).
func (f *FlowCaller) DecidesFlows() bool { return true }

// Runtime is the in-process runtime over f.
func (f *FlowCaller) Runtime() workflows.Runtime { return workflows.NewLocalRuntime(f) }

// CallTool makes req through the daemon. req.OnTask is told the task's id
// as soon as the daemon reports it.
func (f *FlowCaller) CallTool(ctx context.Context, req workflows.CallRequest) (*mcp.CallToolResult, error) {
	raw, err := json.Marshal(req.Args)
	if err != nil {
		return nil, &workflows.CallError{Class: workflows.ClassRefused, Err: &orchestrator.Error{Kind: orchestrator.KindInvalidArguments,
			Server: req.Server, Tool: req.Tool,
			Msg: fmt.Sprintf("arguments for %s cannot be encoded as JSON (nothing was sent)", orchestrator.QualifiedName(req.Server, req.Tool)), Err: err}}
	}
	body := &daemon.FlowCallRequest{Server: req.Server, Tool: req.Tool, Arguments: raw, Meta: req.Meta,
		Run: req.Run, Step: req.Step, Sources: req.Sources, Flows: daemon.WireFlowEdges(req.Flows), FlowFile: req.FlowFile,
		ResumeTaskID: req.ResumeTaskID, Tasks: req.OnTask != nil}
	ans, err := f.stream(ctx, daemon.LocalPathFlowCall, body, req.Server, req.OnTask)
	if err != nil {
		return nil, err
	}
	if len(ans.ArgumentSecrets) > 0 {
		if lerr := f.learnArguments(raw, ans.ArgumentSecrets); lerr != nil {
			// The call was made, but what the run would print or journal
			// of its arguments could not be masked: a protocol failure,
			// which is not retried.
			return nil, &workflows.CallError{Class: workflows.ClassProtocol, Err: connErr(req.Server, lerr)}
		}
	}
	return ans.Result, ans.Error.Err()
}

// learnArguments teaches f.red the secret places the daemon found in a
// call's arguments, raw as sent.
func (f *FlowCaller) learnArguments(raw []byte, found []daemon.WireArgumentSpans) error {
	var args any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil {
		return fmt.Errorf("reading back a call's arguments: %w", err)
	}
	for _, a := range found {
		v := args
		for _, tok := range a.Path {
			switch x := v.(type) {
			case map[string]any:
				v = x[tok]
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(x) {
					return fmt.Errorf("the daemon on %s named a secret at an argument that is not there: %q", f.c.socket, a.Path)
				}
				v = x[i]
			default:
				return fmt.Errorf("the daemon on %s named a secret at an argument that is not there: %q", f.c.socket, a.Path)
			}
		}
		text, ok := v.(string)
		if a.Key {
			if len(a.Path) == 0 {
				return fmt.Errorf("the daemon on %s named a secret key without a path", f.c.socket)
			}
			text, ok = a.Path[len(a.Path)-1], true
		}
		if !ok {
			return fmt.Errorf("the daemon on %s named a secret at an argument that is not a string: %q", f.c.socket, a.Path)
		}
		if err := f.c.learn(f.red, text, a.Spans); err != nil {
			return err
		}
	}
	return nil
}

// ReadResource reads through the daemon.
func (f *FlowCaller) ReadResource(ctx context.Context, req workflows.ReadRequest) (*mcp.ReadResourceResult, error) {
	body := &daemon.FlowReadRequest{Server: req.Server, URI: req.URI, Run: req.Run, Step: req.Step,
		Sources: req.Sources, Flows: daemon.WireFlowEdges(req.Flows), FlowFile: req.FlowFile}
	ans, err := f.stream(ctx, daemon.LocalPathFlowRead, body, req.Server, nil)
	if err != nil {
		return nil, err
	}
	return ans.Contents, ans.Error.Err()
}

// Tool describes a tool as the daemon's orchestrator has it.
func (f *FlowCaller) Tool(ctx context.Context, server, tool string) (*mcp.Tool, error) {
	ans, err := f.stream(ctx, daemon.LocalPathFlowTool, &daemon.FlowToolRequest{Server: server, Tool: tool}, server, nil)
	if err != nil {
		return nil, err
	}
	if ans.Error == nil && ans.Tool == nil {
		return nil, flowConnErr(server, fmt.Errorf("the daemon on %s answered without the tool %s", f.c.socket, orchestrator.QualifiedName(server, tool)))
	}
	return ans.Tool, ans.Error.Err()
}

// SyncAudit reports the failures to record the calls made, which the
// daemon waited for before answering each.
func (f *FlowCaller) SyncAudit(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.auditErrs...)
}

// Close releases the client's connections; the daemon's sessions stay.
func (f *FlowCaller) Close() error {
	f.c.http.CloseIdleConnections()
	return nil
}

// stream sends body to path and reads the answer's lines, telling onTask
// each task id, until the last. A failure to talk to the daemon is a
// transport failure of server, which the run may retry.
func (f *FlowCaller) stream(ctx context.Context, path string, body any, server string, onTask func(string)) (*daemon.FlowAnswer, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://daemon"+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	f.c.id.SetHeaders(req.Header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.c.http.Do(req)
	if err != nil {
		return nil, flowConnErr(server, fmt.Errorf("the daemon on %s: %w", f.c.socket, err))
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var we daemon.WireError
		if dec.Decode(&we) == nil && we.Message != "" {
			return nil, flowConnErr(server, fmt.Errorf("the daemon on %s refused the request: %s", f.c.socket, we.Message))
		}
		return nil, flowConnErr(server, fmt.Errorf("the daemon on %s answered %s", f.c.socket, resp.Status))
	}
	for {
		var ans daemon.FlowAnswer
		if err := dec.Decode(&ans); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, flowConnErr(server, fmt.Errorf("the daemon on %s: reading its answer: %w", f.c.socket, err))
		}
		if !ans.Done {
			if ans.TaskID != "" && onTask != nil {
				onTask(ans.TaskID)
			}
			continue
		}
		if ae := ans.AuditError.Err(); ae != nil {
			f.mu.Lock()
			f.auditErrs = append(f.auditErrs, ae)
			f.mu.Unlock()
		}
		return &ans, nil
	}
}

// flowConnErr classifies a failure to talk to the daemon as the
// orchestrator classifies a server it cannot reach: a transport failure
// (a connection error, exit 3); a cancelled context stays itself.
func flowConnErr(server string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &workflows.CallError{Class: workflows.ClassTransport, Err: connErr(server, err)}
}
