package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// A flow the policy does not allow is put to the host's user as a form
// elicitation: a message naming the servers, the request and exactly the
// arguments, and a choice of allow once / allow for this session / deny.
//
// A tool call, a prompt's get or a resource's read asks it as a
// multi-round-trip request (SEP-2322): the request is refused before
// anything is sent, its result asks for the answer
// (inputRequests) with a requestState that mediator signed for exactly
// that request, and the host retries with the answer. go-sdk turns this
// into a plain elicitation/create for a host on an older protocol, so
// one path serves both. Skills and a workflow's steps ask by
// elicitation/create directly, which only a host on an older protocol
// can answer. A host that cannot be asked gets
// the refusal, which says what to add to the config.

// Answers of the approval form.
const (
	answerOnce    = "allow once"
	answerSession = "allow for this session"
	answerDeny    = "deny"
)

// approvalInput names the approval question among a result's inputRequests.
const approvalInput = "mediator-approval"

// errAskHost is the approver's answer when the question goes back to the
// host in the call's result.
var errAskHost = errors.New("the user's approval is asked for")

// ask is a tool call's state for its approval question.
type ask struct {
	caps      func() *mcp.ClientCapabilities // asked only when a question is: decoding them costs
	responses mcp.InputResponseMap
	state     string // as the host echoed it
	request   string // the request, as the state signs it

	question  *mcp.ElicitParams // set when the approver needs an answer
	wantState string
}

type askKey struct{}

// withAsk returns ctx for a tool call whose approval questions go back
// in its result.
func withAsk(ctx context.Context, a *ask) context.Context {
	return context.WithValue(ctx, askKey{}, a)
}

// asking reports whether err is the approver's refusal to go on until
// the host answers a's question, which then goes back in the result:
// inputRequests() and wantState.
func (a *ask) asking(err error) bool { return a.question != nil && errors.Is(err, errAskHost) }

func (a *ask) inputRequests() mcp.InputRequestMap {
	return mcp.InputRequestMap{approvalInput: a.question}
}

// approve decides fr for the session's request on ctx.
func (st *state) approve(ctx context.Context, fr orchestrator.FlowRequest) (orchestrator.Approval, error) {
	params := approvalParams(ctx, fr)
	if a, ok := ctx.Value(askKey{}).(*ask); ok {
		if !capsElicit(a.caps(), "form") {
			return orchestrator.ApprovalDeny, nil
		}
		want := st.sign(a.request, fr)
		if r, ok := a.responses[approvalInput].(*mcp.ElicitResult); ok && hmac.Equal([]byte(a.state), []byte(want)) {
			return decision(r), nil
		}
		a.question, a.wantState = params, want
		return orchestrator.ApprovalDeny, errAskHost
	}
	if !canElicit(st.ss, "form") {
		return orchestrator.ApprovalDeny, nil
	}
	res, err := st.ss.Elicit(ctx, params)
	if err != nil {
		return orchestrator.ApprovalDeny, fmt.Errorf("asking the user through the host: %w", err)
	}
	return decision(res), nil
}

// sign is the requestState of the approval question of fr in request:
// an answer is taken only for the request it was asked about.
func (st *state) sign(request string, fr orchestrator.FlowRequest) string {
	m := hmac.New(sha256.New, st.key)
	fmt.Fprintf(m, "%s\x00%s\x00%s\x00%s\x00%s", request, fr.Method, fr.Target, fr.To, strings.Join(fr.From, ","))
	return hex.EncodeToString(m.Sum(nil))
}

func decision(r *mcp.ElicitResult) orchestrator.Approval {
	if r == nil || r.Action != "accept" {
		return orchestrator.ApprovalDeny
	}
	switch r.Content["decision"] {
	case answerOnce:
		return orchestrator.ApprovalOnce
	case answerSession:
		return orchestrator.ApprovalSession
	}
	return orchestrator.ApprovalDeny
}

// approvalParams is the question about fr.
func approvalParams(ctx context.Context, fr orchestrator.FlowRequest) *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Mode:    "form",
		Message: approvalMessage(ctx, fr),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"decision": map[string]any{
					"type":        "string",
					"title":       "Send it?",
					"description": "allow once: this request only; allow for this session: this request and later ones of the same flow to the same target until you disconnect",
					"enum":        []string{answerOnce, answerSession, answerDeny},
				},
			},
			"required": []string{"decision"},
		},
	}
}

// roundTrips reports whether the host of ss speaks a protocol with
// multi-round-trip requests (2026-07-28 on).
func roundTrips(ss *mcp.ServerSession) bool {
	p := ss.InitializeParams()
	return p == nil || p.ProtocolVersion >= "2026-07-28"
}
