package chat

import (
	"context"
	"io"
	"sync"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/chat/slash"
	"github.com/mediatorhq/mediator/cmd/internal/chat/tui"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/auth"
	"github.com/mediatorhq/mediator/orchestrator"
)

// runTUI opens the terminal UI over d: the slash commands over the
// chat's orchestrator and session, the UI asking what the session and
// the servers need asked (through d.Hooks), on the process's own
// terminal.
func runTUI(ctx context.Context, f *cmdutil.Factory, d *Interactive) error {
	_, noColor := f.LookupEnv("NO_COLOR")
	ui, cmds := newTUI(ctx, d, noColor, func(ctx context.Context, server string, out io.Writer) error {
		return auth.Login(ctx, f, server, out)
	})
	go cmds.Refresh(ctx)
	return ui.Run(ctx, f.IOStreams.In, f.IOStreams.RawOut)
}

// newTUI builds the UI and the slash commands over d and points d.Hooks
// at the UI; login is `/auth login`.
func newTUI(ctx context.Context, d *Interactive, noColor bool, login func(context.Context, string, io.Writer) error) (*tui.UI, *slash.Commands) {
	var (
		ui      *tui.UI
		mu      sync.Mutex
		current = d.Model
	)
	modelName := func() string {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	env := slash.Env{
		Orchestrator: d.Orchestrator,
		Session:      d.Session,
		Config:       d.Config,
		Redactor:     d.Redactor,
		// `@server:uri` and `/server:prompt` ask about flows as the
		// model's calls do, in the same prompt.
		FlowApprover: orchestrator.ApproverFunc(func(ctx context.Context, req orchestrator.FlowRequest) (orchestrator.Approval, error) {
			return ui.Approver().ApproveFlow(ctx, agent.FlowRequest{FlowRequest: req})
		}),
		Login:     login,
		ModelName: modelName,
	}
	if d.Session != nil && d.OpenModel != nil {
		env.SetModel = func(name string) error {
			m, err := d.OpenModel(ctx, name)
			if err != nil {
				return err
			}
			d.Session.SetModel(m)
			mu.Lock()
			current = m.Name()
			mu.Unlock()
			return nil
		}
	}
	cmds := slash.New(env)
	ui = tui.New(tui.Options{
		Session:  d.Session,
		Commands: cmds,
		Status: func() chat.Status {
			st := chat.Status{Model: modelName(), Servers: d.Orchestrator.Servers()}
			if d.Session != nil {
				st.Context, st.Usage = d.Session.Provenance().Servers(), d.Session.Usage()
			}
			return st
		},
		Advice: d.Advice,
		// A failed save is reported when the chat ends, by its last save.
		AfterTurn: func() { _ = d.Save() },
		NoColor:   noColor,
		Redact:    d.Redactor.Redact,
	})
	d.Hooks.Set(Handlers{
		Approver:         ui.Approver(),
		ApproveSampling:  ui.ApproveSampling,
		Elicit:           ui.Elicit,
		ToolsChanged:     cmds.ToolsChanged,
		PromptsChanged:   cmds.PromptsChanged,
		ResourcesChanged: cmds.ResourcesChanged,
	})
	return ui, cmds
}
