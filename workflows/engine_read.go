package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// runRead reads a read step's resource once, under the step's timeout,
// journalling the attempt as a call's (tool ReadTool, the URI digested as
// {"uri": ...}). A read changes nothing, so it is never held back by the
// retry rule and a resume reads again unless the journal has the read
// succeeded with the same URI, whose contents it reuses.
func (e *engine) runRead(ctx context.Context, fr *frame, s *flow.Step, path string) *stepResult {
	uri, err := e.readURI(ctx, fr, s)
	if err != nil {
		return e.failBeforeCall(ctx, s, path, "", "", err)
	}
	digest := ArgsDigest(map[string]any{"uri": uri})
	keep := e.contentNeeded[s.ID]
	attempt := 1
	if e.resume != nil {
		if last := e.resume.last[path]; last != nil {
			if res, ok := e.reusedRead(ctx, path, last, digest); ok {
				r := readSucceeded(res, last.Attempt, keep)
				r.reused = true
				return r
			}
			attempt = last.Attempt + 1
		}
	}
	rec := &AttemptRecord{
		RunID: e.runID, Path: path, Attempt: attempt, Step: e.staticPath(s),
		Server: s.Read.Server, Tool: ReadTool, State: AttemptStarted,
		ArgsDigest: digest, StartedAt: e.rt.Now(ctx),
	}
	if e.journal != nil {
		// A read is harmless to repeat: its records need not be committed
		// before it is sent.
		if err := e.journal.RecordAttempt(rec, false); err != nil {
			return callFailed(err, attempt)
		}
	}
	res, err := e.rt.ReadResource(e.attemptContext(ctx, s, path), ReadRequest{Server: s.Read.Server, URI: uri, Run: e.runID, Step: path,
		Sources: e.sources[s], Flows: e.callFlows(s), FlowFile: e.flow.Source, Timeout: e.flow.EffectiveTimeout(s)})
	if fr, ok := asFlowRefusal(err); ok {
		err = e.flowRefusal(s, path, fr, err)
	}
	class := ""
	if err != nil {
		class = classify(ctx, err)
	}
	err = endAttempt(ctx, e, rec, res, err, class, false)
	switch {
	case err == nil:
		return readSucceeded(res, attempt, keep)
	case class == ClassCancelled:
		return &stepResult{status: StatusCancelled, err: err, view: readView(StatusCancelled, nil, attempt, err, class, keep)}
	}
	return finished(StatusFailed, err, readView(StatusFailed, nil, attempt, err, class, keep))
}

// readURI is the step's URI: the literal, or what its expression yields,
// which must be a non-empty string.
func (e *engine) readURI(ctx context.Context, fr *frame, s *flow.Step) (string, error) {
	u := s.Read.URI
	if u.Kind != flow.KindExpr {
		uri, _ := u.Literal.(string)
		return uri, nil
	}
	v, err := flow.Eval(ctx, u.Expr, e.scope(fr, u.Expr.References))
	if err != nil {
		return "", &exprError{what: "read.uri", err: err}
	}
	if uri, ok := v.(string); ok && uri != "" {
		return uri, nil
	}
	return "", &exprError{what: "read.uri", err: fmt.Errorf("%s: %s must yield a non-empty URI string, got %s", u.Expr.Pos, u.Expr, describe(v))}
}

// reusedRead returns the contents of a read the journal has succeeded
// with the same URI.
func (e *engine) reusedRead(ctx context.Context, path string, last *AttemptRecord, digest string) (*mcp.ReadResourceResult, bool) {
	if last.State != AttemptSucceeded || last.ArgsDigest != digest {
		return nil, false
	}
	full, err := e.resume.journal.Attempt(ctx, e.runID, path, last.Attempt)
	if err != nil {
		return nil, false
	}
	var res mcp.ReadResourceResult
	if len(full.Result) == 0 || json.Unmarshal(full.Result, &res) != nil {
		return nil, false
	}
	return &res, true
}

func readSucceeded(res *mcp.ReadResourceResult, attempts int, keep bool) *stepResult {
	return finished(StatusSucceeded, nil, readView(StatusSucceeded, res, attempts, nil, "", keep))
}

// readView is .steps.<id> of a read step, shaped as a call's: result is
// {contents: [...]} as resources/read answers (blobs in base64), content
// the contents list, text the texts joined. Without keep, content and text
// are null, as for a call.
func readView(status string, res *mcp.ReadResourceResult, attempts int, err error, class string, keep bool) map[string]any {
	v := map[string]any{flow.FieldStatus: status, flow.FieldResult: readResultValue(res), flow.FieldAttempts: attempts, flow.FieldError: errorView(err, class),
		flow.FieldContent: nil, flow.FieldText: nil}
	if keep && res != nil {
		if m, ok := v[flow.FieldResult].(map[string]any); ok {
			v[flow.FieldContent] = m[flow.ReadResult]
		}
		var texts []string
		for _, c := range res.Contents {
			if c != nil && c.Blob == nil {
				texts = append(texts, c.Text)
			}
		}
		v[flow.FieldText] = strings.Join(texts, "\n")
	}
	return v
}

// readResultValue is a read's result as flows read it: {contents: [...]}.
func readResultValue(res *mcp.ReadResourceResult) any {
	if res == nil {
		return nil
	}
	contents := res.Contents
	if contents == nil {
		contents = []*mcp.ResourceContents{}
	}
	b, err := json.Marshal(contents)
	if err != nil {
		return nil
	}
	var list any
	if err := json.Unmarshal(b, &list); err != nil {
		return nil
	}
	return map[string]any{flow.ReadResult: flow.Normalize(list)}
}

// requestTool is what a step's journal records name as its tool.
func requestTool(s *flow.Step) string {
	if s.Read != nil {
		return ReadTool
	}
	if s.Call != nil {
		return s.Call.Tool
	}
	return ""
}
