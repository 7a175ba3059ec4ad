package chat

import (
	"context"
	"errors"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Handlers are the terminal UI's answers to what arrives while a chat
// runs. Each is optional; what is left unset is declined (fail closed).
type Handlers struct {
	// Approver asks the user about tool calls and cross-server flows
	// (agent.Approver).
	Approver agent.Approver
	// ApproveSampling shows a server's sampling request (naming the
	// server) and says whether it may go to the model. It is asked about
	// every request in an interactive chat.
	ApproveSampling func(ctx context.Context, req *orchestrator.SamplingRequest) (bool, error)
	// Elicit shows a server's elicitation request as a form naming the
	// server.
	Elicit func(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error)
	// Notifications from servers (orchestrator.Host); they must not block.
	ToolsChanged     func(server string, err error)
	PromptsChanged   func(server string)
	ResourcesChanged func(server string)
	ResourceUpdated  func(server, uri string)
}

// Hooks is where the chat command's Session and orchestrator find the
// UI's Handlers: both are built before the UI starts, over Hooks, and the
// UI sets its Handlers when it does (Set). Safe for concurrent use.
type Hooks struct {
	mu sync.Mutex
	h  Handlers
}

// Set replaces the handlers.
func (k *Hooks) Set(h Handlers) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.h = h
}

func (k *Hooks) get() Handlers {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.h
}

// errNoUI refuses what arrives before the UI can ask.
var errNoUI = errors.New("the chat cannot ask the user yet")

// ApproveTool asks the UI's Approver; without one the call is refused.
func (k *Hooks) ApproveTool(ctx context.Context, req agent.ToolRequest) (orchestrator.Approval, error) {
	if a := k.get().Approver; a != nil {
		return a.ApproveTool(ctx, req)
	}
	return orchestrator.ApprovalDeny, errNoUI
}

// ApproveFlow asks the UI's Approver; without one the flow is refused.
func (k *Hooks) ApproveFlow(ctx context.Context, req agent.FlowRequest) (orchestrator.Approval, error) {
	if a := k.get().Approver; a != nil {
		return a.ApproveFlow(ctx, req)
	}
	return orchestrator.ApprovalDeny, errNoUI
}

func (k *Hooks) approveSampling(ctx context.Context, req *orchestrator.SamplingRequest) (bool, error) {
	if f := k.get().ApproveSampling; f != nil {
		return f(ctx, req)
	}
	return false, nil
}

func (k *Hooks) elicit(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
	if f := k.get().Elicit; f != nil {
		return f(ctx, req)
	}
	return &mcp.ElicitResult{Action: "decline"}, nil
}

func (k *Hooks) toolsChanged(server string, err error) {
	if f := k.get().ToolsChanged; f != nil {
		f(server, err)
	}
}

func (k *Hooks) promptsChanged(server string) {
	if f := k.get().PromptsChanged; f != nil {
		f(server)
	}
}

func (k *Hooks) resourcesChanged(server string) {
	if f := k.get().ResourcesChanged; f != nil {
		f(server)
	}
}

func (k *Hooks) resourceUpdated(server, uri string) {
	if f := k.get().ResourceUpdated; f != nil {
		f(server, uri)
	}
}
