package cmdutil

import (
	"context"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListingDeps is what a command that connects to the configured servers and
// prints what it finds (`servers`, `tools`) takes from the Factory. The
// commands embed it in their options so a test can swap any one of them.
type ListingDeps struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	// Redactor is read when printing, not when the command is built: the
	// keyring the orchestrator opens teaches it the secrets to scrub.
	Redactor     func() *credentials.Redactor
	NoConfigHint func(*config.Config)
}

// NewListingDeps takes a listing command's dependencies from f.
func NewListingDeps(f *Factory) ListingDeps {
	return ListingDeps{
		IO:           f.IOStreams,
		Config:       f.Config,
		Orchestrator: f.Orchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		NoConfigHint: func(cfg *config.Config) { NoConfigHint(f, cfg) },
	}
}
