// Package slash is the slash commands of `mediator chat` (chat.Commands):
// what the user does by hand besides talking to the model. It draws
// nothing; each command's output goes to a chat.Sink.
//
// # Contract
//
//   - What a command reads or calls goes through the orchestrator, with
//     its checks and audit. What the user typed carries no provenance
//     (/call, /read); what brings a server's output into the model's
//     context carries the context's (`@server:uri`, `/server:prompt`),
//     so the data-flow policy decides it.
//   - Nothing a command shows or returns holds a secret the Redactor
//     knows: results, errors and saved transcripts go through it.
//   - /call, /read, /run and the listings are shown, never added to the
//     model's context; only Expand and a prompt's Result.Send are.
//   - Bad input is an error naming the argument and what would be valid;
//     no input panics.
//   - Complete never waits on a server: it reads the listings Refresh
//     cached, which PromptsChanged, ResourcesChanged and ToolsChanged
//     keep current.
package slash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Env is what the commands work with. Orchestrator is required; the rest
// may be left out, and the commands that need a missing piece say so.
type Env struct {
	Orchestrator *orchestrator.Orchestrator
	// Session is the conversation with the model; nil in direct mode (no
	// model configured).
	Session *agent.Session
	// Config gives policy.flows (/policy, /run) and the state directory
	// (the run journal of /run); nil is an empty config.
	Config *config.Config
	// Redactor masks secrets in everything shown or saved; use the
	// keyring's (credentials.Store.Redactor).
	Redactor *credentials.Redactor
	// FlowApprover asks the user about a flow the policy does not allow
	// when `@server:uri` or `/server:prompt` would bring one server's data
	// to another; nil refuses such flows.
	FlowApprover orchestrator.Approver
	// FlowDir is where /run looks for a FLOW not found as given, and lists
	// flow files from for completion; "" is the working directory.
	FlowDir string
	// SaveDir is where /save writes a file given without a directory; ""
	// is the working directory.
	SaveDir string

	// Login logs in to an OAuth server (`/auth login SERVER`), telling the
	// user what to do on out.
	Login func(ctx context.Context, server string, out io.Writer) error
	// SetModel switches the model (`/model NAME`); ModelName names the
	// current one.
	SetModel  func(name string) error
	ModelName func() string
	// Now dates /save's default file name; nil is time.Now.
	Now func() time.Time
}

// Commands are the chat's slash commands. Make one with New; its methods
// may be called from several goroutines.
type Commands struct {
	env   Env
	cache *cache
}

var _ chat.Commands = (*Commands)(nil)

// New returns the commands over env. It does no I/O: call Refresh once the
// servers are connected so that completion and /help know their tools,
// prompts and resources.
func New(env Env) *Commands {
	if env.Redactor == nil {
		env.Redactor = credentials.NewRedactor()
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &Commands{env: env, cache: newCache(env.Orchestrator)}
}

// command is one built-in command.
type command struct {
	name, args, summary string
	run                 func(c *Commands, ctx context.Context, args string, out chat.Sink) (chat.Result, error)
}

// builtins are the built-in commands, in the order /help lists them.
func builtins() []command {
	return []command{
		{"/servers", "", "the servers: transport, state, tools, sandbox", (*Commands).servers},
		{"/tools", "[server]", "the tools: read-only, pinned, what each does", (*Commands).tools},
		{"/call", "server.tool {json}", "call a tool yourself (shown, not added to the model's context)", (*Commands).call},
		{"/read", "server uri", "read a resource (shown, not added to the model's context)", (*Commands).read},
		{"/run", "FLOW [name=value ...]", "run a workflow file, with live step status", (*Commands).runFlow},
		{"/skills", "", "the skills the servers offer", (*Commands).skills},
		{"/auth", "login SERVER", "log in to an OAuth server", (*Commands).auth},
		{"/policy", "", "allowed flows, what the context has seen, this session's approvals", (*Commands).policy},
		{"/model", "[NAME]", "show or switch the model", (*Commands).model},
		{"/clear", "", "clear the conversation and what the context has seen", (*Commands).clear},
		{"/save", "[file]", "save the conversation as Markdown", (*Commands).save},
		{"/help", "", "this list", (*Commands).help},
		{"/quit", "", "leave the chat", (*Commands).quit},
	}
}

func lookupCommand(name string) (command, bool) {
	cmds := builtins()
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return cmds[i], true
}

// Help lists the built-in commands, then each server's prompts as
// `/server:prompt` commands.
func (c *Commands) Help() []chat.CommandHelp {
	var out []chat.CommandHelp
	for _, cmd := range builtins() {
		out = append(out, chat.CommandHelp{Name: cmd.name, Args: cmd.args, Summary: cmd.summary})
	}
	for _, p := range c.cache.promptList() {
		out = append(out, chat.CommandHelp{Name: promptCommand(p.Server, p.Prompt.Name), Args: promptArgs(p.Prompt), Summary: oneLine(p.Prompt.Description)})
	}
	return out
}

// Run runs one command line. An error is what the user did wrong or what
// failed, redacted; the TUI shows it.
func (c *Commands) Run(ctx context.Context, line string, out chat.Sink) (res chat.Result, err error) {
	defer func() {
		if err != nil {
			err = redactedErr(c.env.Redactor, err)
		}
	}()
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "/") {
		return chat.Result{}, errors.New("a command starts with /; type /help for the list")
	}
	name, rest := cutSpace(line)
	if cmd, ok := lookupCommand(name); ok {
		return cmd.run(c, ctx, rest, out)
	}
	if server, prompt, ok := strings.Cut(name[1:], ":"); ok {
		return c.prompt(ctx, server, prompt, rest, out)
	}
	return chat.Result{}, fmt.Errorf("unknown command %q%s; type /help for the list", name, suggest.Hint(name, c.commandNames()))
}

// cutSpace splits s at its first run of white space (a space, a tab, a
// newline of a multi-line input).
func cutSpace(s string) (head, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// commandNames are the built-in commands and the servers' prompts.
func (c *Commands) commandNames() []string {
	var names []string
	for _, h := range c.Help() {
		names = append(names, h.Name)
	}
	return names
}

func (c *Commands) help(_ context.Context, args string, out chat.Sink) (chat.Result, error) {
	if err := noArgs("/help", args); err != nil {
		return chat.Result{}, err
	}
	var b strings.Builder
	b.WriteString("| command | what it does |\n|---|---|\n")
	for _, h := range c.Help() {
		name := h.Name
		if h.Args != "" {
			name += " " + h.Args
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", name, cell(h.Summary))
	}
	b.WriteString("\nType `@server:uri` in a message to attach a resource.\n")
	out.Markdown(b.String())
	return chat.Result{}, nil
}

func (c *Commands) quit(_ context.Context, args string, _ chat.Sink) (chat.Result, error) {
	if err := noArgs("/quit", args); err != nil {
		return chat.Result{}, err
	}
	return chat.Result{Action: chat.ActionQuit}, nil
}

// clear asks the TUI to clear the session; it calls nothing itself.
func (c *Commands) clear(_ context.Context, args string, _ chat.Sink) (chat.Result, error) {
	if err := noArgs("/clear", args); err != nil {
		return chat.Result{}, err
	}
	return chat.Result{Action: chat.ActionClear}, nil
}

// noArgs refuses arguments to a command that takes none.
func noArgs(name, args string) error {
	if args != "" {
		return fmt.Errorf("%s takes no arguments, got %q", name, args)
	}
	return nil
}

// redactedErr is err with its text redacted, still unwrapping to err.
func redactedErr(red *credentials.Redactor, err error) error {
	msg := red.Redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// serverNames are the configured servers' names.
func (c *Commands) serverNames() []string {
	var names []string
	for _, s := range c.env.Orchestrator.Servers() {
		names = append(names, s.Name)
	}
	return names
}

// checkServer returns an error naming the configured servers unless name
// is one of them. what says which argument it is.
func (c *Commands) checkServer(what, name string) error {
	names := c.serverNames()
	if slices.Contains(names, name) {
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: unknown server %q; no servers are configured (add them under servers: in the config)", what, name)
	}
	return fmt.Errorf("%s: unknown server %q%s; configured servers: %s", what, name, suggest.Hint(name, names), strings.Join(names, ", "))
}

// pump runs work on its own goroutine and calls, on the caller's, in
// order, each function work's callbacks queue with emit: a Sink is called
// from the command's goroutine only, while engines and connectors report
// from theirs and must not block.
func pump(work func(emit func(func())) error) error {
	var (
		mu    sync.Mutex
		queue []func()
		wake  = make(chan struct{}, 1)
		done  = make(chan error, 1)
	)
	emit := func(f func()) {
		mu.Lock()
		queue = append(queue, f)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go func() { done <- work(emit) }()
	drain := func() {
		mu.Lock()
		q := queue
		queue = nil
		mu.Unlock()
		for _, f := range q {
			f()
		}
	}
	for {
		select {
		case <-wake:
			drain()
		case err := <-done:
			drain()
			return err
		}
	}
}

// sinkWriter is an io.Writer whose writes become Markdown blocks, through
// emit.
type sinkWriter struct {
	emit func(func())
	out  chat.Sink
	red  *credentials.Redactor
}

func (w sinkWriter) Write(p []byte) (int, error) {
	text := w.red.Redact(string(p))
	w.emit(func() { w.out.Markdown(fence(text, "")) })
	return len(p), nil
}
