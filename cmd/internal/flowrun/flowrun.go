// Package flowrun holds what `mediator run` and `mediator resume` share:
// loading and validating a flow, connecting its servers through the
// orchestrator, opening the run journal, showing progress, and turning a
// run's result into output and an exit code.
package flowrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/daemonclient"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Env is what the workflow commands take from the Factory.
type Env struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	// Redactor is read after the orchestrator is built: opening the
	// keyring replaces it with one that knows the secrets.
	Redactor func() *credentials.Redactor
	// Policy reads the global config's rules for every flow.
	Policy PolicyFunc
	// Terminal is where a server's questions would be asked; the live
	// view holds it while it draws (nil: nothing to hold).
	Terminal func() *prompter.Terminal
	// Daemon is the orchestrator of the daemon running for the config, or
	// nil (none, or --no-daemon): Connect makes the run's calls through it.
	Daemon func(context.Context, *config.Config) *daemonclient.Orchestrator
	// Remote opens the engine of engine: temporal (OpenRemote), and
	// ExecTemporal hands the command line to mediator-temporal when this
	// binary does not link it (cmdutil.ExecTemporal).
	Remote       Remote
	ExecTemporal func(why string) error
}

// NewEnv takes the workflow commands' dependencies from f.
func NewEnv(f *cmdutil.Factory) Env {
	return Env{
		IO:           f.IOStreams,
		Config:       f.Config,
		Orchestrator: f.Orchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		Policy:       ConfigPolicy,
		Terminal:     f.Terminal,
		Daemon:       cmdutil.NewServerDeps(f).Daemon,
		Remote:       factoryRemote{f},
		ExecTemporal: cmdutil.ExecTemporal,
	}
}

// Policy is what the global config says about every flow.
type Policy struct {
	// Flows are the config's policy.flows: cross-server data flows every
	// flow may make in addition to those its own flows: declares.
	Flows []flow.FlowEdge
	// TrustAnnotations says whose tool annotations (readOnlyHint,
	// idempotentHint) the retry rule believes.
	TrustAnnotations func(server string) bool
}

// PolicyFunc reads the Policy from a loaded config.
type PolicyFunc func(*config.Config) Policy

// DefaultPolicy is the policy of a config that says nothing: no flows
// beyond each file's own, and every server's annotations trusted (see
// TrustAnnotations).
func DefaultPolicy(*config.Config) Policy {
	return Policy{TrustAnnotations: TrustAnnotations}
}

// PolicySource is what a config says about every flow: the config's
// policy block. *config.Config provides it through these two methods.
type PolicySource interface {
	// PolicyFlows are policy.flows.
	PolicyFlows() []flow.FlowEdge
	// AnnotationTrust lists policy.trust_annotations; set is false when
	// the key is absent, which trusts every server.
	AnnotationTrust() (servers []string, set bool)
}

// PolicyFrom reads the policy src describes.
func PolicyFrom(src PolicySource) Policy {
	p := Policy{Flows: src.PolicyFlows(), TrustAnnotations: TrustAnnotations}
	if servers, set := src.AnnotationTrust(); set {
		p.TrustAnnotations = func(server string) bool { return slices.Contains(servers, server) }
	}
	return p
}

// ConfigPolicy reads cfg's policy block when the config has one (it
// implements PolicySource), else it is DefaultPolicy.
func ConfigPolicy(cfg *config.Config) Policy {
	if src, ok := any(cfg).(PolicySource); ok {
		return PolicyFrom(src)
	}
	return DefaultPolicy(cfg)
}

// PolicyOf returns env's policy under cfg, DefaultPolicy's when env has no
// Policy or cfg is nil.
func PolicyOf(env Env, cfg *config.Config) Policy {
	p := Policy{}
	if env.Policy != nil && cfg != nil {
		p = env.Policy(cfg)
	}
	if p.TrustAnnotations == nil {
		p.TrustAnnotations = TrustAnnotations
	}
	return p
}

// LoadFlow reads, parses and validates a flow file about to run, with the
// sub-flows its uses steps run (each validated the same way): against
// the policy's flows besides the file's own, and the config's servers; the
// retry rule is the engine's, with the live annotations. Every error is
// reported at once, each as FILE:LINE:COL, with exit code 2; warnings go
// to stderr and do not stop the run.
func LoadFlow(ctx context.Context, env Env, cfg *config.Config, path string) (*flow.Flow, error) {
	f, ps, err := workflows.LoadForRun(ctx, path, ValidateOptions(env, cfg))
	if err != nil {
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	if errs := ps.Errors(); len(errs) > 0 {
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%s has %d problem(s):\n%w", path, len(errs), errs)}
	}
	if ws := ps.Warnings(); len(ws) > 0 && env.IO != nil {
		fmt.Fprintln(env.IO.ErrOut, ws.Error())
	}
	return f, nil
}

// ServerCheck is flow.ValidateOptions.Server under cfg: a server the flow
// calls must be configured (cmdutil.CheckServer says what is). Without a
// config file there is nothing to check against: nil.
func ServerCheck(cfg *config.Config) func(string) error {
	if cfg == nil || !cfg.Found {
		return nil
	}
	return func(name string) error {
		if _, err := cmdutil.CheckServer(cfg, name); err != nil {
			return errors.Unwrap(err)
		}
		return nil
	}
}

// Servers lists the servers a flow calls or reads from, sorted.
func Servers(f *flow.Flow) []string { return f.Servers() }

// WithAuditLoss adds to runErr the loss of any of the run's audit records.
// The last steps' records are written behind them, and a run whose records
// are lost was not fully audited; a cancelled run waits for them too.
func WithAuditLoss(ctx context.Context, o interface{ SyncAudit(context.Context) error }, runErr error) error {
	if err := o.SyncAudit(context.WithoutCancel(ctx)); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// Conn is where a run's calls go: the CLI's own orchestrator, or the
// daemon running for the config (daemonclient.FlowCaller), whose
// orchestrator decides, calls and audits them the same way.
type Conn interface {
	// Runtime is the in-process runtime making the run's calls.
	Runtime() workflows.Runtime
	// SyncAudit waits for the run's audit records and reports any lost.
	SyncAudit(context.Context) error
	Close() error
}

// orchConn is the CLI's own orchestrator as a Conn.
type orchConn struct{ *orchestrator.Orchestrator }

func (c orchConn) Runtime() workflows.Runtime { return Runtime(c.Orchestrator) }

// Connect checks that every server the flow calls is configured and
// returns the daemon running for the config when there is one (see
// Env.Daemon), else builds an orchestrator over just those servers, its
// audit log open: the progress view takes over the terminal, so any
// prompt for the keyring (the audit key is there) comes now.
//
// Through the daemon the CLI does not open the keyring, so before the run
// it asks the daemon which parts of its own texts (inputs, the flow's
// files) are secrets, and env's redactor learns them: the journal and
// everything printed are masked as without the daemon (the daemon masks
// what its servers answer). A daemon that cannot answer fails the run
// before anything is journalled.
func Connect(ctx context.Context, env Env, cfg *config.Config, f *flow.Flow, inputs map[string]any) (Conn, error) {
	servers := Servers(f)
	for _, s := range servers {
		if _, err := cmdutil.CheckServer(cfg, s); err != nil {
			return nil, fmt.Errorf("%s calls server %q: %w", f.Source, s, err)
		}
	}
	if env.Daemon != nil {
		if d := env.Daemon(ctx, cfg); d != nil {
			fc := d.FlowCaller()
			var red *credentials.Redactor
			if env.Redactor != nil {
				red = env.Redactor()
			}
			if err := fc.LearnSecrets(ctx, red, ownTexts(f, inputs)); err != nil {
				fc.Close()
				return nil, &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
			}
			return fc, nil
		}
	}
	o, err := env.Orchestrator(ctx, cfg, servers...)
	if err != nil {
		return nil, err
	}
	if err := o.OpenAudit(ctx); err != nil {
		o.Close()
		return nil, err
	}
	return orchConn{o}, nil
}

// ownTexts are the texts a run takes from the CLI rather than from a
// server: every string of inputs (keys too) and number's decimal form,
// and the bytes of every file the flow runs (a file that cannot be read
// now was read to load the flow, and is left out).
func ownTexts(f *flow.Flow, inputs map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case nil, bool:
		default:
			out = append(out, fmt.Sprint(x))
		}
	}
	walk(inputs)
	for _, path := range f.Files() {
		if b, err := os.ReadFile(path); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// CurrentRedactor redacts with the redactor its function returns at each
// use: the Factory's is replaced when the keyring opens, which may come
// after the journal is opened (resume reads its run before connecting).
type CurrentRedactor func() *credentials.Redactor

// Redact masks s with the current redactor.
func (c CurrentRedactor) Redact(s string) string {
	if c == nil {
		return s
	}
	return c().Redact(s)
}

// JournalPath is where the run journal lives: the state directory.
func JournalPath(cfg *config.Config) string {
	return filepath.Join(cfg.StateDir, workflows.JournalFile)
}

// OpenJournal opens the run journal under the config's state directory;
// red (a *credentials.Redactor, a CurrentRedactor, or nil) masks what it
// stores.
func OpenJournal(cfg *config.Config, red workflows.Redactor) (*workflows.Journal, error) {
	return workflows.OpenJournal(JournalPath(cfg), red)
}

// TrustAnnotations is the workflow commands' trust in tool annotations: a
// tool's readOnlyHint and idempotentHint are believed because the
// orchestrator pins every tool definition, annotations included, and
// refuses calls once a definition changes until the user accepts it again;
// the annotations the retry rule relies on are the ones the user reviewed.
func TrustAnnotations(string) bool { return true }

// Runtime is the in-process runtime over the orchestrator.
func Runtime(o *orchestrator.Orchestrator) workflows.Runtime {
	return workflows.NewLocalRuntime(workflows.OrchestratorCaller{O: o})
}
