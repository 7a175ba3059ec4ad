// Package tui is the terminal UI of `mediator chat` (Bubble Tea v2): a
// scrolling transcript with the model's answer streamed and rendered as
// Markdown, each tool call a collapsible block, a multi-line input with
// history and slash-command completion, a status bar, and the prompts
// the agent and the servers need answered (tool and flow approvals,
// sampling approvals, elicitation forms) drawn above the input.
//
// # Contract
//
//   - A UI drives an *agent.Session (nil: direct mode, slash commands
//     only) and a chat.Commands. Plain text goes through
//     Commands.Expand, then Session.SendInput; a line starting with "/"
//     goes to Commands.Run. Each runs in its own goroutine with a context
//     the UI cancels on Esc, and reports to the program in order.
//   - Approver, Elicit and ApproveSampling may be called from any
//     goroutine: they show a prompt in the running program and block
//     until the user answers or ctx is done. With no program running they
//     refuse (deny, decline) at once.
//   - Everything a server or the model wrote is drawn through
//     internal/termtext: it cannot drive the terminal.
//   - With Options.NoColor nothing the UI draws carries a colour.
package tui

import (
	"context"
	"io"
	"sync"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The size drawn for until the terminal tells its own, or when out is
// not a terminal.
const defaultWidth, defaultHeight = 80, 24

// Options configures New.
type Options struct {
	Session  *agent.Session // nil: direct mode (slash commands only)
	Commands chat.Commands
	// Status is polled for the status bar on each render; it must be
	// cheap. nil shows the session's own usage only.
	Status func() chat.Status
	// Advice says how to configure a model; shown in direct mode at the
	// start and when plain text is typed.
	Advice string
	// AfterTurn is called after each model turn (Send returned) and
	// after /clear: the command saves the transcript.
	AfterTurn func()
	// NoColor (NO_COLOR set): nothing is drawn in colour.
	NoColor bool
	// Redact masks secrets mediator knows in what servers wrote before
	// it is shown; nil shows it as it is (made safe for the terminal).
	Redact func(string) string
}

// UI is the chat's terminal UI. Make one with New; run it with Run (or
// run Model in a tea.Program of your own, as the tests do).
type UI struct {
	opts Options

	// msgs carries what other goroutines report to the program, in
	// order; one listener at a time (listen) hands them to Update.
	msgs chan tea.Msg
	// wake says a progress report is waiting in progress: Progress must
	// not block, so it never waits for the listener.
	wake chan struct{}

	mu       sync.Mutex
	live     bool          // a program runs the model
	done     chan struct{} // closed when that program stops
	progress *connectors.Progress
	// declined are the servers whose elicitations the user declined
	// for the rest of the session.
	declined map[string]bool

	m *model
}

// New makes a UI.
func New(opts Options) *UI {
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}
	u := &UI{
		opts:     opts,
		msgs:     make(chan tea.Msg),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		declined: map[string]bool{},
	}
	u.m = newModel(u)
	return u
}

// SetSession sets the conversation the UI drives, for a command that
// needs the UI's Approver to make the session (agent.Options.Approver).
// Call it before the program runs.
func (u *UI) SetSession(s *agent.Session) {
	u.opts.Session = s
	u.m.placeholder()
}

// Model is the root model, for a tea.Program (teatest). Its Init marks
// the UI live: from then on, prompts are shown instead of refused, until
// the model quits.
func (u *UI) Model() tea.Model { return u.m }

// Run runs the UI on in and out until /quit, ctrl+d on an empty input,
// or ctrl+c twice. Cancelling ctx stops it too, and cancels what runs.
func (u *UI) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u.m.base = ctx
	opts := []tea.ProgramOption{tea.WithInput(in), tea.WithOutput(out), tea.WithContext(ctx)}
	if u.opts.NoColor {
		opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
	}
	if f, ok := out.(interface{ Fd() uintptr }); !ok || !term.IsTerminal(f.Fd()) {
		// No terminal to ask for its size: draw for a common one.
		opts = append(opts, tea.WithWindowSize(defaultWidth, defaultHeight))
	}
	_, err := tea.NewProgram(u.m, opts...).Run()
	u.stop()
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// start marks the UI live; the model's Init calls it.
func (u *UI) start() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.live {
		u.live = true
		u.done = make(chan struct{})
	}
	return u.done
}

// stop marks the UI not live: waiting prompts are refused, reports are
// dropped.
func (u *UI) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.live {
		u.live = false
		close(u.done)
	}
}

// running returns the live program's done channel, or false.
func (u *UI) running() (<-chan struct{}, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.done, u.live
}

// post hands msg to the program, waiting until its listener takes it; it
// reports false when no program runs or ctx is done first.
func (u *UI) post(ctx context.Context, msg tea.Msg) bool {
	done, ok := u.running()
	if !ok {
		return false
	}
	select {
	case u.msgs <- msg:
		return true
	case <-done:
	case <-ctx.Done():
	}
	return false
}

// posted is a message from post, as the listener delivers it.
type posted struct{ msg tea.Msg }

// progressed says Progress has a report waiting.
type progressed struct{}

// listen waits for the next posted message or progress report.
func (u *UI) listen(done <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		select {
		case m := <-u.msgs:
			return posted{m}
		case <-u.wake:
			return progressed{}
		case <-done:
			return nil
		}
	}
}

// Progress shows a server's progress report under the running call. It
// is safe from any goroutine and never blocks (connectors.WithProgress).
func (u *UI) Progress(p connectors.Progress) {
	u.mu.Lock()
	u.progress = &p
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default: // a wake is pending; it will read this report
	}
}

// takeProgress returns the waiting report, if any.
func (u *UI) takeProgress() *connectors.Progress {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.progress
	u.progress = nil
	return p
}

// Approver is the agent's Approver: tool calls and flows are asked
// about in the TUI.
func (u *UI) Approver() agent.Approver { return approver{u} }

type approver struct{ u *UI }

func (a approver) ApproveTool(ctx context.Context, req agent.ToolRequest) (orchestrator.Approval, error) {
	v, err := a.u.ask(ctx, toolPrompt(req))
	if err != nil {
		return orchestrator.ApprovalDeny, err
	}
	return v.(orchestrator.Approval), nil
}

func (a approver) ApproveFlow(ctx context.Context, req agent.FlowRequest) (orchestrator.Approval, error) {
	v, err := a.u.ask(ctx, flowPrompt(req))
	if err != nil {
		return orchestrator.ApprovalDeny, err
	}
	return v.(orchestrator.Approval), nil
}

// ApproveSampling asks the user whether a server's sampling request may
// go to the model: the server, its messages and maxTokens are shown.
func (u *UI) ApproveSampling(ctx context.Context, req *orchestrator.SamplingRequest) (bool, error) {
	v, err := u.ask(ctx, samplingPrompt(req, u.opts.Redact))
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// Elicit asks the user for what a server requests: a form (form mode)
// or consent to a URL shown but never opened (URL mode). A server the
// user declined all requests of is declined without asking.
func (u *UI) Elicit(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
	u.mu.Lock()
	no := u.declined[req.Server]
	u.mu.Unlock()
	if no {
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	v, err := u.ask(ctx, elicitPrompt(req.ElicitationRequest, u.opts.Redact))
	if err != nil {
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	res := v.(*mcp.ElicitResult)
	return res, nil
}

// declineAll remembers that the user declines every request of server
// for the rest of the session.
func (u *UI) declineAll(server string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.declined[server] = true
}

// ask shows p in the program and waits for the answer. It refuses at
// once (errNotRunning) when no program runs, and returns ctx's error
// when ctx is done first, taking the prompt down.
func (u *UI) ask(ctx context.Context, p *prompt) (any, error) {
	p.reply = make(chan any, 1)
	if !u.post(ctx, p) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errNotRunning
	}
	done, _ := u.running()
	select {
	case v := <-p.reply:
		return v, nil
	case <-ctx.Done():
		u.post(context.Background(), withdraw{p})
		return nil, ctx.Err()
	case <-done:
		return nil, errNotRunning
	}
}
