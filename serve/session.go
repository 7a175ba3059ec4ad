package serve

//lint:file-ignore SA1019 logging and sampling are deprecated from protocol 2026-07-28 on, but mediator passes them between hosts and servers that use them (2025-11-25 and the deprecation window)

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// state is one host session's context: its standing with the data-flow
// policy (an orchestrator.Session whose approver asks this host's user)
// and the provenance of everything returned to the host so far. Every
// request the host makes carries that provenance: what the host sends
// may be built from anything it has seen.
type state struct {
	ss   *mcp.ServerSession
	sess *orchestrator.Session
	key  []byte // signs the requestState of approval questions

	mu   sync.Mutex
	prov orchestrator.Provenance
}

// sessions holds the state of each host session while it lasts: one for
// stdio, one per client over HTTP.
type sessions struct {
	mu sync.Mutex
	m  map[*mcp.ServerSession]*state
}

// of returns ss's state, made at its first request and dropped when the
// session ends.
func (ss *sessions) of(s *Server, hs *mcp.ServerSession) *state {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st, ok := ss.m[hs]; ok {
		return st
	}
	st := &state{ss: hs, key: s.key}
	st.sess = orchestrator.NewSession(orchestrator.SessionOptions{Approver: orchestrator.ApproverFunc(st.approve)})
	if hs == nil {
		return st // not a session's request: nothing to keep
	}
	ss.m[hs] = st
	go func() {
		_ = hs.Wait()
		ss.mu.Lock()
		delete(ss.m, hs)
		ss.mu.Unlock()
		s.unsubscribeAll(hs)
	}()
	return st
}

// len is the number of live host sessions.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// provenance is what the host has been given so far.
func (st *state) provenance() orchestrator.Provenance {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.prov
}

// returned records that data of provenance p was returned to the host.
// Call it before the data goes out.
func (st *state) returned(p orchestrator.Provenance) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prov = st.prov.Union(p)
}

// pendingRequest is the host's request being decided, for the approver's
// question: what would be sent, and where.
type pendingRequest struct {
	method   string
	name     string          // as the host named it
	args     json.RawMessage // exactly as the host sent them
	workflow bool            // a workflow's calls: their arguments are the flow's
}

type pendingKey struct{}

// context is ctx for a request of the session: decided under its
// orchestrator.Session, with req for the approver.
func (st *state) context(ctx context.Context, req pendingRequest) context.Context {
	ctx = orchestrator.WithSession(ctx, st.sess)
	return context.WithValue(ctx, pendingKey{}, req)
}

// approvalMessage names the servers the data came from, the server and
// request it would go to, and exactly the arguments that would be sent.
func approvalMessage(ctx context.Context, fr orchestrator.FlowRequest) string {
	var b strings.Builder
	from := make([]string, len(fr.From))
	for i, f := range fr.From {
		from[i] = fmt.Sprintf("%q", f)
	}
	fmt.Fprintf(&b, "mediator: this session has seen data from server %s, and the next request may carry it to server %q, which the policy does not allow.\n",
		strings.Join(from, ", "), fr.To)
	switch fr.Method {
	case "tools/call", "":
		fmt.Fprintf(&b, "Request: call tool %q of server %q", fr.Target, fr.To)
	default:
		fmt.Fprintf(&b, "Request: %s %q of server %q", fr.Method, fr.Target, fr.To)
	}
	req, _ := ctx.Value(pendingKey{}).(pendingRequest)
	switch {
	case req.workflow:
		fmt.Fprintf(&b, ", a step of workflow %q (its arguments are built by the workflow from its inputs and earlier steps).\n", req.name)
	case fr.Method == "tools/call" || fr.Method == "prompts/get" || fr.Method == orchestrator.MethodComplete:
		args := string(req.args)
		if args == "" || args == "null" {
			args = "{}"
		}
		fmt.Fprintf(&b, " with exactly these arguments:\n%s\n", args)
	default:
		b.WriteString(".\n")
	}
	fmt.Fprintf(&b, "To allow it always, add to the config: policy.flows: [%s]", flowList(fr))
	return b.String()
}

func flowList(fr orchestrator.FlowRequest) string {
	fs := make([]string, len(fr.From))
	for i, f := range fr.From {
		fs[i] = fmt.Sprintf("%q", orchestrator.Flow{From: f, To: fr.To}.String())
	}
	return strings.Join(fs, ", ")
}

// canElicit reports whether the host of ss declared elicitation in mode
// ("form" or "url"); a declaration with neither mode means form.
func canElicit(ss *mcp.ServerSession, mode string) bool {
	return capsElicit(clientCaps(ss), mode)
}

// capsElicit reports whether caps declare elicitation in mode.
func capsElicit(caps *mcp.ClientCapabilities, mode string) bool {
	if caps == nil || caps.Elicitation == nil {
		return false
	}
	e := caps.Elicitation
	if mode == "url" {
		return e.URL != nil
	}
	return e.Form != nil || e.URL == nil
}

// canSample reports whether the host of ss declared sampling.
func canSample(ss *mcp.ServerSession) bool {
	caps := clientCaps(ss)
	return caps != nil && caps.Sampling != nil
}

// clientCaps are the host's capabilities as it declared them at
// initialize. A host on the stateless protocol (2026-07-28) made no such
// session: mediator cannot send it requests, and asks nothing.
func clientCaps(ss *mcp.ServerSession) *mcp.ClientCapabilities {
	if ss == nil {
		return nil
	}
	p := ss.InitializeParams()
	if p == nil {
		return nil
	}
	return p.Capabilities
}
