package cmdutil

import (
	"context"
	"fmt"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/daemonclient"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Caller is what a command that calls one server's tools uses of an
// orchestrator: the CLI's own (*orchestrator.Orchestrator) or a running
// daemon's, through its socket (*daemonclient.Orchestrator), which
// decides, calls and audits the same way.
type Caller interface {
	Call(ctx context.Context, server, tool string, args map[string]any) (*orchestrator.Result, error)
	Tools(ctx context.Context, server string) ([]orchestrator.ToolInfo, error)
	ReadResource(ctx context.Context, server, uri string, prov orchestrator.Provenance) (*orchestrator.ResourceContents, error)
	OpenAudit(ctx context.Context) error
	SyncAudit(ctx context.Context) error
	Close() error
}

// Lister is a Caller that also connects servers and reports their
// states: what `servers` and `tools` use.
type Lister interface {
	Caller
	Connect(ctx context.Context, servers ...string)
	Servers() []orchestrator.ServerStatus
}

var (
	_ Lister = (*orchestrator.Orchestrator)(nil)
	_ Lister = (*daemonclient.Orchestrator)(nil)
)

// findDaemon returns the orchestrator of the daemon running for cfg, or
// nil when there is none, --no-daemon is given, or the daemon is not
// used: its socket is not safe, or it does not answer (said on stderr;
// the command then works alone).
func (f *Factory) findDaemon(ctx context.Context, cfg *config.Config) *daemonclient.Orchestrator {
	if f.NoDaemon || !cfg.Found || cfg.StateDir == "" {
		return nil
	}
	socket := daemon.SocketPath(cfg.Daemon.Socket, cfg.StateDir)
	c, err := daemonclient.Find(ctx, cfg.Path, cfg.StateDir, socket)
	if err != nil {
		fmt.Fprintf(f.IOStreams.ErrOut, "warning: %v; working without the daemon\n", f.Redactor.Redact(err.Error()))
		return nil
	}
	if c == nil {
		return nil
	}
	// The daemon masks the secrets it knows; a binary block that held one
	// is filled with SecretFill, which SaveBinary then refuses as a secret.
	f.Redactor.Add(credentials.NewSecret(daemon.SecretFill))
	return c.Orchestrator()
}

// OpenCaller is Open, through the daemon running for this config when
// there is one (see Factory.NoDaemon).
func (d ServerDeps) OpenCaller(ctx context.Context, server string) (Caller, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	if _, err := CheckServer(cfg, server); err != nil {
		return nil, err
	}
	if d.Daemon != nil {
		if o := d.Daemon(ctx, cfg); o != nil {
			return o, nil
		}
	}
	return d.Orchestrator(ctx, cfg, server)
}

// OpenLister is Orchestrator over the servers named (all when none),
// through the daemon running for cfg when there is one; the daemon's
// orchestrator serves every configured server.
func (d ServerDeps) OpenLister(ctx context.Context, cfg *config.Config, servers ...string) (Lister, error) {
	if d.Daemon != nil {
		if o := d.Daemon(ctx, cfg); o != nil {
			return o, nil
		}
	}
	return d.Orchestrator(ctx, cfg, servers...)
}
