package cmdutil

import (
	"context"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/daemonclient"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ServerDeps is what a command that uses one configured server (`call`,
// `prompt`, `read`, `skill`) takes from the Factory. The commands embed
// it in their options so a test can swap any one of them.
type ServerDeps struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	// Redactor is read when printing, not when the command is built: the
	// keyring the orchestrator opens teaches it the secrets to scrub.
	Redactor func() *credentials.Redactor
	// Daemon is the orchestrator of the daemon running for the config,
	// or nil (see OpenCaller).
	Daemon func(context.Context, *config.Config) *daemonclient.Orchestrator
}

// NewServerDeps takes a one-server command's dependencies from f.
func NewServerDeps(f *Factory) ServerDeps {
	return ServerDeps{
		IO:           f.IOStreams,
		Config:       f.Config,
		Orchestrator: f.Orchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		Daemon:       f.findDaemon,
	}
}

// Open loads the config, checks that it names server usably (see
// CheckServer) and starts an orchestrator for that server alone; the
// caller closes it.
func (d ServerDeps) Open(ctx context.Context, server string) (*orchestrator.Orchestrator, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	if _, err := CheckServer(cfg, server); err != nil {
		return nil, err
	}
	return d.Orchestrator(ctx, cfg, server)
}

// ListingDeps is what a command that connects to the configured servers and
// prints what it finds (`servers`, `tools`) takes from the Factory.
type ListingDeps struct {
	ServerDeps
	NoConfigHint func(*config.Config)
}

// NewListingDeps takes a listing command's dependencies from f.
func NewListingDeps(f *Factory) ListingDeps {
	return ListingDeps{
		ServerDeps:   NewServerDeps(f),
		NoConfigHint: func(cfg *config.Config) { NoConfigHint(f, cfg) },
	}
}
