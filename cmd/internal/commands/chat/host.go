package chat

//lint:file-ignore SA1019 sampling is deprecated from protocol 2026-07-28 on, but mediator answers servers that use it

import (
	"context"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// host is the chat's side of what servers ask of mediator.
type host struct {
	hooks *Hooks
	// model answers sampling; nil (direct mode) offers no sampling.
	model agent.Model
	// interactive: a user is there to ask (the UI); otherwise (chat -p)
	// what needs asking is declined and said on stderr.
	interactive bool
	stderr      io.Writer
	redact      func() *credentials.Redactor
}

// orchestratorHost is h as the orchestrator takes it.
//
// Sampling, with a model: a request the server's setting says to ask
// about (sampling: ask) is shown in an interactive chat
// (ApproveSampling, naming the server) before it goes to the model, and
// declined in chat -p; one it allows (sampling: allow) goes to the model
// within the setting's caps. Elicitation: the UI's form, or in
// chat -p a decline naming the server.
func (h *host) orchestratorHost() orchestrator.Host {
	oh := orchestrator.Host{
		Elicit:           h.elicit,
		ToolsChanged:     h.hooks.toolsChanged,
		PromptsChanged:   h.hooks.promptsChanged,
		ResourcesChanged: h.hooks.resourcesChanged,
		ResourceUpdated:  h.hooks.resourceUpdated,
	}
	if h.model != nil {
		oh.Sample = h.sample
	}
	return oh
}

func (h *host) sample(ctx context.Context, req *orchestrator.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
	switch {
	case !req.Ask:
		// sampling: allow: the user chose not to be asked.
	case h.interactive:
		ok, err := h.hooks.approveSampling(ctx, req)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, connectors.ErrUserRejected
		}
	default:
		h.say("server %s asked to use the model (sampling); declined: its sampling setting is ask, and chat -p has no one to ask (set sampling: allow for it to be answered without asking)", req.Server)
		return nil, connectors.ErrUserRejected
	}
	return agent.Sample(ctx, h.model, req)
}

func (h *host) elicit(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
	if h.interactive {
		return h.hooks.elicit(ctx, req)
	}
	h.say("server %s asked for input (elicitation); declined: chat -p has no one to ask", req.Server)
	return &mcp.ElicitResult{Action: "decline"}, nil
}

func (h *host) say(format string, args ...any) {
	if h.stderr == nil {
		return
	}
	fmt.Fprintln(h.stderr, h.redact().Redact(fmt.Sprintf(format, args...)))
}
