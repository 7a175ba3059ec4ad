package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// The local API's flow requests: the calls of a run the CLI runs itself
// (`mediator run`, `resume`: the engine and the journal stay in the CLI),
// made by the daemon with workflows.OrchestratorCaller over its
// orchestrator, which decides the data-flow policy with the request's
// sources and the flow file's flows:, and audits with the run and step,
// exactly as the CLI's own OrchestratorCaller would.
const (
	LocalPathFlowCall = "/local/v1/flow/call"
	LocalPathFlowRead = "/local/v1/flow/read"
	LocalPathFlowTool = "/local/v1/flow/tool"
)

// WireFlowEdge is a flow.FlowEdge: data of From may go to To.
type WireFlowEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// FlowCallRequest is the body of POST /local/v1/flow/call: a
// workflows.CallRequest. With Tasks the answer reports the MCP task a
// call runs as (workflows.CallRequest.OnTask) before its result.
type FlowCallRequest struct {
	Server       string          `json:"server"`
	Tool         string          `json:"tool"`
	Arguments    json.RawMessage `json:"arguments,omitempty"`
	Meta         mcp.Meta        `json:"meta,omitempty"`
	Run          string          `json:"run,omitempty"`
	Step         string          `json:"step,omitempty"`
	Sources      []string        `json:"sources,omitempty"`
	Flows        []WireFlowEdge  `json:"flows,omitempty"`
	FlowFile     string          `json:"flow_file,omitempty"`
	ResumeTaskID string          `json:"resume_task_id,omitempty"`
	Tasks        bool            `json:"tasks,omitempty"`
}

// FlowReadRequest is the body of POST /local/v1/flow/read: a
// workflows.ReadRequest.
type FlowReadRequest struct {
	Server   string         `json:"server"`
	URI      string         `json:"uri"`
	Run      string         `json:"run,omitempty"`
	Step     string         `json:"step,omitempty"`
	Sources  []string       `json:"sources,omitempty"`
	Flows    []WireFlowEdge `json:"flows,omitempty"`
	FlowFile string         `json:"flow_file,omitempty"`
}

// FlowToolRequest is the body of POST /local/v1/flow/tool.
type FlowToolRequest struct {
	Server string `json:"server"`
	Tool   string `json:"tool"`
}

// FlowAnswer is one line of the answer to a flow request, which is a
// stream of JSON values, one a line: for a call with Tasks, a line with
// TaskID alone as soon as the server created the task; then the last,
// with Done, holding what OrchestratorCaller returned (Result, Contents
// or Tool beside Error: a call made but not audited has both) and
// AuditError, the failure to write the request's audit record, which the
// daemon waits for before answering. The secrets the daemon knows are
// masked in all of it (docs/daemon.md, Warm sessions for the CLI).
type FlowAnswer struct {
	// ArgumentSecrets are the places in the call's own arguments that
	// hold a secret the daemon knows (a value the flow assembled and sent
	// to a tool), which the CLI's redactor learns as it learned its
	// inputs'; places, never values.
	ArgumentSecrets []WireArgumentSpans     `json:"argument_secrets,omitempty"`
	TaskID          string                  `json:"task_id,omitempty"`
	Done            bool                    `json:"done,omitempty"`
	Result          *mcp.CallToolResult     `json:"result,omitempty"`
	Contents        *mcp.ReadResourceResult `json:"contents,omitempty"`
	Tool            *mcp.Tool               `json:"tool,omitempty"`
	Error           *WireFlowError          `json:"error,omitempty"`
	AuditError      *WireError              `json:"audit_error,omitempty"`
}

// WireArgumentSpans are the secret places in one string of a call's
// arguments: Path leads to it from the arguments object (object keys,
// and array indexes in decimal); with Key the string is the last key of
// Path itself rather than its value.
type WireArgumentSpans struct {
	Path  []string           `json:"path"`
	Key   bool               `json:"key,omitempty"`
	Spans []credentials.Span `json:"spans"`
}

// argumentSecrets finds the strings of args, keys included, that hold a
// secret red knows.
func argumentSecrets(red *credentials.Redactor, args map[string]any) []WireArgumentSpans {
	var out []WireArgumentSpans
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		switch x := v.(type) {
		case string:
			if sp := red.Spans(x); len(sp) > 0 {
				out = append(out, WireArgumentSpans{Path: slices.Clone(path), Spans: sp})
			}
		case map[string]any:
			for k, e := range x {
				p := append(slices.Clone(path), k)
				if sp := red.Spans(k); len(sp) > 0 {
					out = append(out, WireArgumentSpans{Path: p, Key: true, Spans: sp})
				}
				walk(p, e)
			}
		case []any:
			for i, e := range x {
				walk(append(slices.Clone(path), strconv.Itoa(i)), e)
			}
		}
	}
	walk(nil, args)
	return out
}

// WireFlowError is an error of OrchestratorCaller: a *workflows.CallError
// of Class, holding a *workflows.FlowRefusedError when FlowRefused is
// set, around Cause (the orchestrator's error, or the caller's own).
type WireFlowError struct {
	Class       string           `json:"class,omitempty"`
	FlowRefused *WireFlowRefusal `json:"flow_refused,omitempty"`
	// TaskNotFound says the error wraps connectors.ErrTaskNotFound: the
	// server does not know the task a resume attaches to.
	TaskNotFound bool       `json:"task_not_found,omitempty"`
	Cause        *WireError `json:"cause"`
}

// WireFlowRefusal is a *workflows.FlowRefusedError's From and To.
type WireFlowRefusal struct {
	From []string `json:"from"`
	To   string   `json:"to"`
}

// wireFlowError encodes err; nil stays nil.
func wireFlowError(err error, red *credentials.Redactor) *WireFlowError {
	if err == nil {
		return nil
	}
	w := &WireFlowError{Cause: wireError(err, red), TaskNotFound: errors.Is(err, connectors.ErrTaskNotFound)}
	var ce *workflows.CallError
	if errors.As(err, &ce) {
		w.Class = ce.Class
	}
	var fr *workflows.FlowRefusedError
	if errors.As(err, &fr) {
		w.FlowRefused = &WireFlowRefusal{From: fr.From, To: fr.To}
	}
	return w
}

// Err rebuilds the error: its text is the daemon's, and errors.As and
// errors.Is find in it what the daemon's held (the *workflows.CallError
// with its class, the *workflows.FlowRefusedError, the
// *orchestrator.Error and *connectors.Error that WireError.Err rebuilds,
// connectors.ErrTaskNotFound), so the engine retries, refuses and reports
// as it would with the error itself.
func (w *WireFlowError) Err() error {
	if w == nil {
		return nil
	}
	err := w.Cause.Err()
	if err == nil {
		err = errors.New("the daemon reported an error without a message")
	}
	if w.TaskNotFound {
		err = &RemoteError{Message: err.Error(), inner: errors.Join(err, connectors.ErrTaskNotFound)}
	}
	if w.FlowRefused != nil {
		err = &workflows.FlowRefusedError{From: w.FlowRefused.From, To: w.FlowRefused.To, Err: err}
	}
	if w.Class != "" {
		err = &workflows.CallError{Class: w.Class, Err: err}
	}
	return err
}

// FlowEdges turns wire edges back into the flow file's edges.
func FlowEdges(ws []WireFlowEdge) []flow.FlowEdge {
	if len(ws) == 0 {
		return nil
	}
	out := make([]flow.FlowEdge, len(ws))
	for i, w := range ws {
		out[i] = flow.FlowEdge{From: w.From, To: w.To}
	}
	return out
}

// WireFlowEdges is FlowEdges' inverse (positions are the CLI's own).
func WireFlowEdges(es []flow.FlowEdge) []WireFlowEdge {
	if len(es) == 0 {
		return nil
	}
	out := make([]WireFlowEdge, len(es))
	for i, e := range es {
		out[i] = WireFlowEdge{From: e.From, To: e.To}
	}
	return out
}

func (h *localHandler) mountFlow(mux *http.ServeMux) {
	mux.HandleFunc("POST "+LocalPathFlowCall, h.flowCall)
	mux.HandleFunc("POST "+LocalPathFlowRead, h.flowRead)
	mux.HandleFunc("POST "+LocalPathFlowTool, h.flowTool)
}

// flowStream writes FlowAnswer lines, each flushed at once.
type flowStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
}

func (s *flowStream) send(a *FlowAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	_ = json.NewEncoder(s.w).Encode(a)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *localHandler) flowCall(w http.ResponseWriter, r *http.Request) {
	var req FlowCallRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	args := map[string]any{}
	if len(req.Arguments) > 0 && !bytes.Equal(req.Arguments, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(req.Arguments))
		dec.UseNumber()
		if err := dec.Decode(&args); err != nil {
			writeLocalJSON(w, http.StatusBadRequest, &WireError{Message: "arguments: not a JSON object: " + err.Error()})
			return
		}
		localPlainNumbers(args)
	}
	st := &flowStream{w: w}
	ctx := r.Context()
	creq := workflows.CallRequest{Server: req.Server, Tool: req.Tool, Args: args, Meta: req.Meta,
		Run: req.Run, Step: req.Step, Sources: req.Sources, Flows: FlowEdges(req.Flows), FlowFile: req.FlowFile,
		ResumeTaskID: req.ResumeTaskID}
	if req.Tasks {
		creq.OnTask = func(id string) { st.send(&FlowAnswer{TaskID: id}) }
	}
	argSecrets := argumentSecrets(h.opts.Redactor, args)
	res, err := workflows.OrchestratorCaller{O: h.orch}.CallTool(ctx, creq)
	ans := &FlowAnswer{Done: true, Error: wireFlowError(err, h.opts.Redactor), ArgumentSecrets: argSecrets}
	if res != nil {
		masked, merr := h.redactResult(res)
		if merr != nil {
			// The call happened and is audited; its answer cannot be
			// given safely.
			h.opts.Logger.Error("a flow call's result could not be masked", "server", req.Server, "tool", req.Tool, "run", req.Run, "step", req.Step, "error", merr)
			ans.Error = wireFlowError(&workflows.CallError{Class: workflows.ClassProtocol, Err: &orchestrator.Error{Kind: orchestrator.KindServer,
				Server: req.Server, Tool: req.Tool,
				Msg: fmt.Sprintf("%s answered, but its result could not be masked for the CLI: %v", orchestrator.QualifiedName(req.Server, req.Tool), merr)}}, h.opts.Redactor)
			st.send(ans)
			return
		}
		ans.Result = masked
	}
	ans.AuditError = h.flowAudit(ctx, res != nil, err)
	st.send(ans)
}

func (h *localHandler) flowRead(w http.ResponseWriter, r *http.Request) {
	var req FlowReadRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	ctx := r.Context()
	res, err := workflows.OrchestratorCaller{O: h.orch}.ReadResource(ctx, workflows.ReadRequest{Server: req.Server, URI: req.URI,
		Sources: req.Sources, Flows: FlowEdges(req.Flows), FlowFile: req.FlowFile, Run: req.Run, Step: req.Step})
	ans := &FlowAnswer{Done: true, Error: wireFlowError(err, h.opts.Redactor)}
	if res != nil {
		masked, merr := h.redactContents(res)
		if merr != nil {
			h.opts.Logger.Error("a flow read could not be masked", "server", req.Server, "run", req.Run, "step", req.Step, "error", merr)
			ans.Error = wireFlowError(&workflows.CallError{Class: workflows.ClassProtocol, Err: &orchestrator.Error{Kind: orchestrator.KindServer,
				Server: req.Server,
				Msg:    fmt.Sprintf("server %q answered, but resource %q could not be masked for the CLI: %v", req.Server, req.URI, merr)}}, h.opts.Redactor)
			(&flowStream{w: w}).send(ans)
			return
		}
		ans.Contents = masked
	}
	ans.AuditError = h.flowAudit(ctx, res != nil, err)
	(&flowStream{w: w}).send(ans)
}

// flowAudit waits for the audit record of a flow's request that ended
// with err (answered says a result came back) and returns its loss,
// which the CLI reports at the end of the run as it does alone; a
// result with an error is one whose record was lost, already said by
// err.
func (h *localHandler) flowAudit(ctx context.Context, answered bool, err error) *WireError {
	serr := h.orch.SyncAudit(ctx)
	if serr == nil || (answered && err != nil) {
		return nil
	}
	return wireError(serr, h.opts.Redactor)
}

func (h *localHandler) flowTool(w http.ResponseWriter, r *http.Request) {
	var req FlowToolRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	tool, err := workflows.OrchestratorCaller{O: h.orch}.Tool(r.Context(), req.Server, req.Tool)
	(&flowStream{w: w}).send(&FlowAnswer{Done: true, Tool: tool, Error: wireFlowError(err, h.opts.Redactor)})
}
