// Package chat implements `mediator chat`: a conversation with the
// configured model whose every tool call is mediated (agent.Session), in
// the terminal UI or one-shot for scripts (-p), and `mediator chat
// sessions`, the saved conversations.
package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Options of `mediator chat`.
type Options struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
	// Orchestrator builds the orchestrator over the named servers (all
	// usable ones when none are named), answering servers through host.
	Orchestrator func(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error)
	// Redactor is read once the keyring is open: it then knows every
	// secret to mask.
	Redactor func() *credentials.Redactor
	// NewModel builds the model the config's llm block names.
	NewModel func(context.Context, agent.Config) (agent.Model, error)
	// Interactive runs the terminal UI over deps until the user quits.
	Interactive func(ctx context.Context, deps *Interactive) error

	// Prompt is -p: one question, answered on stdout (PromptSet says -p
	// was given; "-" reads it from stdin).
	Prompt    string
	PromptSet bool
	// Approve is --approve: what -p approves of the calls the approval
	// rules ask about (read-only, the default, or all; never a flow).
	Approve    string
	AllowFlows []string
	JSON       bool
	Continue   bool
	Resume     string
	Servers    []string
	// Demo runs the chat on the demo's two example servers, which
	// OpenDemo starts; it returns the user's own config file (for the
	// no-model advice) and how to stop them.
	Demo     bool
	OpenDemo func(ctx context.Context) (userConfig string, close func() error, err error)
	// adviceConfig is the config file the no-model advice names when it
	// is not the one in use: the user's own, under --demo.
	adviceConfig string
}

// Interactive is what the terminal UI gets.
type Interactive struct {
	// Session is the conversation; nil in direct mode (no model
	// configured), where only slash commands run.
	Session      *agent.Session
	Orchestrator *orchestrator.Orchestrator
	Config       *config.Config
	// Model is the model's name ("provider/model"); "" in direct mode.
	Model string
	// Advice says how to configure a model; set in direct mode, to show
	// at the start (config.NoModelAdvice, as chat -p fails with).
	Advice string
	// Servers are the servers of the chat (--servers); nil means all.
	Servers []string
	// Flows are the session's flows from --allow-flow, besides the
	// config's policy.flows.
	Flows []orchestrator.Flow
	// Hooks is where the UI sets its Handlers: the Session's approvals,
	// servers' sampling and elicitation requests, and their
	// notifications. Until it does, they are declined.
	Hooks *Hooks
	// OpenModel builds another model of the configured provider, with
	// the same key, for Session.SetModel (`/model NAME`); nil in direct
	// mode.
	OpenModel func(ctx context.Context, model string) (agent.Model, error)
	// Save writes the Session's transcript to its file (created at the
	// first save of a non-empty one); call it after each turn and on quit.
	Save func() error
	// SessionID is the saved session's ID, "" until the first Save.
	SessionID func() string
	// Redactor masks every secret mediator knows, for what the UI shows.
	Redactor *credentials.Redactor
}

// newOptions takes the chat's dependencies from f.
func newOptions(f *cmdutil.Factory) *Options {
	return &Options{
		IO:           f.IOStreams,
		Config:       f.Config,
		Secrets:      f.Secrets,
		Orchestrator: f.HostOrchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		NewModel:     agent.NewModel,
		Interactive:  func(ctx context.Context, d *Interactive) error { return runTUI(ctx, f, d) },
		OpenDemo:     func(ctx context.Context) (string, func() error, error) { return openDemo(ctx, f) },
	}
}

// NewCmdChat returns `mediator chat` and `mediator chat sessions`.
func NewCmdChat(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   "chat [-p PROMPT] [flags]",
		Short: "Chat with a model whose every tool call is mediated",
		Long: `Talks to the model of the config's llm block, offering it the servers'
tools as server__tool. Every call goes through mediator: the approval rules
(approvals: allow, ask, deny; by default read-only pinned tools are allowed
and the rest ask), then the server's filters, pins, argument schema, the
data-flow policy and the audit log. mediator knows which servers' output the
model has seen: a call to server B while the context holds A's output is
refused unless A -> B is in policy.flows, given with --allow-flow, or
approved in the chat.

Without -p, chat opens the terminal UI; with no model configured it runs in
direct mode (slash commands only) and says how to configure one; --demo
opens it on the demo's weather and calendar servers, nothing to set up.
The model's key lives in the keyring under the reserved name llm:
mediator secret set llm api_key.

-p PROMPT asks one question (- reads it from stdin) and prints the answer on
stdout, --json as {answer, tool_calls, usage, session, context}. Nobody can
be asked then: --approve read-only (the default) approves calls to tools
annotated read-only, --approve all every call; neither approves a
cross-server flow, which is refused (and explained on stderr) unless
policy.flows or --allow-flow allows it.

Conversations are saved under the state dir with what their context held:
--continue reopens the latest, --resume ID a given one, and
` + "`mediator chat sessions`" + ` lists them.

Exit codes: 0 answered; 2 refused before asking (usage, config, no model
configured, no key stored); 3 the model or the keyring could not be used;
130 interrupted. See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator chat
  mediator chat --demo
  mediator chat -p "What is the weather in Oslo?"
  mediator chat -p "Put tomorrow's forecast in my calendar" --approve all --allow-flow weather->calendar --json
  mediator chat --continue
  mediator chat sessions`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.UsageErrorf("mediator chat takes no arguments, got %q; a question goes in -p \"...\"", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.PromptSet = cmd.Flags().Changed("prompt")
			if err := checkFlags(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return chatRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Prompt, "prompt", "p", "", "ask one question and print the answer on stdout (- reads it from stdin)")
	fl.StringVar(&opts.Approve, "approve", "", "with -p: approve calls to read-only tools (read-only, the default) or every call (all); never a cross-server flow")
	fl.StringArrayVar(&opts.AllowFlows, "allow-flow", nil, "allow data from server A to go to server B in this session, as A->B (repeatable)")
	fl.BoolVar(&opts.JSON, "json", false, "with -p: print {answer, tool_calls, usage, session, context} as JSON")
	fl.BoolVar(&opts.Continue, "continue", false, "continue the latest saved conversation")
	fl.StringVar(&opts.Resume, "resume", "", "continue the saved conversation `ID` (see mediator chat sessions)")
	fl.StringSliceVar(&opts.Servers, "servers", nil, "use only these servers (comma-separated)")
	fl.BoolVar(&opts.Demo, "demo", false, "chat with the demo's weather and calendar servers, each with its own throwaway key (direct mode); nothing to set up, nothing left behind")
	cmd.AddCommand(NewCmdSessions(f, nil))
	return cmd
}

// adviceConfigPath is the config file to add an llm: block to.
func (opts *Options) adviceConfigPath(cfg *config.Config) string {
	if opts.adviceConfig != "" {
		return opts.adviceConfig
	}
	return cfg.Path
}

// checkFlags refuses flag combinations that mean nothing.
func checkFlags(opts *Options) error {
	switch {
	case !opts.PromptSet && opts.Approve != "":
		return cmdutil.UsageErrorf("--approve applies to -p only: in the chat you are asked")
	case !opts.PromptSet && opts.JSON:
		return cmdutil.UsageErrorf("--json applies to -p only")
	case opts.Demo && (opts.Continue || opts.Resume != ""):
		return cmdutil.UsageErrorf("--demo starts a new chat on throwaway servers; it cannot continue a saved one")
	case opts.Continue && opts.Resume != "":
		return cmdutil.UsageErrorf("--continue and --resume both name a conversation; give one")
	case opts.PromptSet && strings.TrimSpace(opts.Prompt) == "":
		return cmdutil.UsageErrorf("-p: the prompt is empty; give a question, or - to read it from stdin")
	}
	if opts.Approve != "" {
		if _, err := agent.ParseApproveMode(opts.Approve); err != nil {
			return cmdutil.UsageErrorf("%v", err)
		}
	}
	return nil
}

func chatRun(ctx context.Context, opts *Options) error {
	oneShot := opts.PromptSet
	if !oneShot && (!opts.IO.IsStdinTTY() || !opts.IO.IsStdoutTTY()) {
		return cmdutil.UsageErrorf("mediator chat needs a terminal (stdin and stdout); to ask one question from a script, use -p \"...\"")
	}
	if oneShot && opts.Prompt == "-" {
		b, err := io.ReadAll(io.LimitReader(opts.IO.In, 1<<20))
		if err != nil {
			return fmt.Errorf("reading the prompt from stdin: %w", err)
		}
		if opts.Prompt = strings.TrimSpace(string(b)); opts.Prompt == "" {
			return cmdutil.UsageErrorf("-p -: stdin held no prompt")
		}
	}
	if opts.Demo {
		userConfig, closeDemo, err := opts.OpenDemo(ctx)
		if err != nil {
			return err
		}
		defer closeDemo()
		opts.adviceConfig = userConfig
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	for _, name := range opts.Servers {
		if _, err := cmdutil.CheckServer(cfg, name); err != nil {
			return err
		}
	}
	flows, err := parseFlows(cfg, opts.AllowFlows)
	if err != nil {
		return err
	}
	if cfg.LLM == nil && (oneShot || opts.Continue || opts.Resume != "") {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: errors.New(config.NoModelAdvice(opts.adviceConfigPath(cfg)))}
	}
	// A conversation to continue is found before anything connects.
	store := agent.Store{Dir: cfg.ChatDir()}
	var log *agent.SessionLog
	switch {
	case opts.Continue:
		log, err = store.Latest()
	case opts.Resume != "":
		log, err = store.Open(opts.Resume)
	}
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	var (
		model agent.Model
		key   credentials.Secret
	)
	if cfg.LLM != nil {
		if model, key, err = openModel(ctx, opts, cfg); err != nil {
			return err
		}
	}

	hooks := &Hooks{}
	h := &host{hooks: hooks, model: model, interactive: !oneShot, stderr: opts.IO.ErrOut, redact: opts.Redactor}
	o, err := opts.Orchestrator(ctx, cfg, h.orchestratorHost(), opts.Servers...)
	if err != nil {
		return err
	}
	defer o.Close()
	o.Connect(ctx, opts.Servers...)
	red := opts.Redactor()
	if !key.IsZero() {
		red.Add(key) // whichever store opened last, the model's key is masked
	}
	deps := &Interactive{Orchestrator: o, Config: cfg, Servers: opts.Servers, Flows: flows, Hooks: hooks, Redactor: red,
		Save: func() error { return nil }, SessionID: func() string { return "" }}
	if model == nil {
		deps.Advice = config.NoModelAdvice(opts.adviceConfigPath(cfg))
		return opts.Interactive(ctx, deps)
	}

	store.Redactor = red
	var transcript []agent.Entry
	if log != nil {
		log.SetRedactor(red)
		transcript = log.Entries()
	}
	var approver agent.Approver = hooks
	mode := agent.ApproveReadOnly
	if oneShot {
		if opts.Approve != "" {
			mode, _ = agent.ParseApproveMode(opts.Approve) // checked in checkFlags
		}
		approver = agent.OneShot{Mode: mode}
	}
	sess, err := agent.NewSession(agent.Options{
		Model: model, Orchestrator: o, Servers: opts.Servers,
		Approvals: cfg.AgentApprovals(), Approver: approver, Flows: flows,
		Redactor: red, Transcript: transcript,
	})
	if err != nil {
		return err
	}
	sv := &saver{store: store, log: log, sess: sess, model: model.Name(), servers: serverNames(o)}
	if oneShot {
		warnUnusable(opts.IO.ErrOut, o, red)
		return oneShotRun(ctx, opts, sess, mode, sv, red)
	}
	deps.Session, deps.Model = sess, model.Name()
	deps.OpenModel = func(ctx context.Context, name string) (agent.Model, error) {
		mc := cfg.ModelConfig(key)
		mc.Model = name
		return opts.NewModel(ctx, mc)
	}
	deps.Save = func() error { _, err := sv.save(); return err }
	deps.SessionID = sv.id
	err = opts.Interactive(ctx, deps)
	if _, serr := sv.save(); err == nil {
		err = serr
	}
	return err
}

// openModel builds the model the config's llm block names, with its key
// from the keyring, returned so that it can be masked.
func openModel(ctx context.Context, opts *Options, cfg *config.Config) (agent.Model, credentials.Secret, error) {
	l := cfg.LLM
	var key credentials.Secret
	if l.NeedsKey() {
		store, err := opts.Secrets(ctx, cfg)
		if err != nil {
			return nil, key, err
		}
		key, err = store.Get(config.LLMSecretServer, l.APIKeySecret)
		if errors.Is(err, credentials.ErrNotFound) {
			return nil, key, cmdutil.Errorf(cmdutil.ExitUsage, "no API key is stored for the model (provider %s, keyring item %s/%s); store it with: %s", l.Provider, config.LLMSecretServer, l.APIKeySecret, l.SetKeyCommand())
		}
		if err != nil {
			return nil, key, err
		}
	}
	m, err := opts.NewModel(ctx, cfg.ModelConfig(key))
	if err != nil {
		return nil, key, cmdutil.Errorf(cmdutil.ExitUsage, "config %s: %v", cfg.Path, err)
	}
	return m, key, nil
}

// parseFlows reads --allow-flow values with the parser of the config's
// policy.flows, and checks that each names configured servers.
func parseFlows(cfg *config.Config, vals []string) ([]orchestrator.Flow, error) {
	var out []orchestrator.Flow
	for _, v := range vals {
		e, err := flow.ParseFlowEdge(v)
		if err == nil {
			err = e.Redundant()
		}
		if err != nil {
			return nil, cmdutil.UsageErrorf("--allow-flow %s: %v", v, err)
		}
		for _, name := range []string{e.From, e.To} {
			if _, ok := cfg.Server(name); !ok {
				names := cfg.ServerNames()
				return nil, cmdutil.UsageErrorf("--allow-flow %s: unknown server %q%s; configured: %s", v, name, suggest.Hint(name, names), strings.Join(names, ", "))
			}
		}
		out = append(out, orchestrator.Flow{From: e.From, To: e.To})
	}
	return out, nil
}

func serverNames(o *orchestrator.Orchestrator) []string {
	var names []string
	for _, s := range o.Servers() {
		names = append(names, s.Name)
	}
	return names
}

// saver writes a Session's transcript to its file, creating the file at
// the first save of a non-empty transcript.
type saver struct {
	store   agent.Store
	sess    *agent.Session
	model   string
	servers []string

	mu  sync.Mutex
	log *agent.SessionLog
}

func (s *saver) save() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := s.sess.Transcript()
	if s.log == nil {
		if len(entries) == 0 {
			return "", nil
		}
		l, err := s.store.Create(s.model, s.servers)
		if err != nil {
			return "", err
		}
		s.log = l
	}
	return s.log.ID(), s.log.Sync(entries)
}

func (s *saver) id() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.ID()
}

// warnUnusable says on stderr which servers chat -p goes without: their
// tools are not offered to the model. (The UI shows them in its status
// bar.)
func warnUnusable(w io.Writer, o *orchestrator.Orchestrator, red *credentials.Redactor) {
	for _, s := range o.Servers() {
		switch {
		case s.State == connectors.StateReady && s.ToolsErr != nil:
			fmt.Fprintln(w, red.Redact(fmt.Sprintf("warning: server %s: its tools are not offered: %v", s.Name, s.ToolsErr)))
		case s.State == connectors.StateFailed || s.State == connectors.StateAuthRequired:
			why := "it could not be reached"
			if s.Err != nil {
				why = s.Err.Error()
			}
			fmt.Fprintln(w, red.Redact(fmt.Sprintf("warning: server %s cannot be used, its tools are not offered: %s", s.Name, why)))
		}
	}
}
