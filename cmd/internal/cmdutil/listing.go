package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
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

// Unlisted is the error of a listing command (`tools`, `skills`) after it
// printed what it could: what servers' entries could not be listed, and
// why. With all (no server named), servers whose config entries have
// problems exit 2; listErr (the listing's own error) and servers that
// are not connected exit 3 unless something exits 2 first. nil when
// everything was listed.
func Unlisted(cfg *config.Config, o *orchestrator.Orchestrator, all bool, listErr error, what string) error {
	var unlisted []error
	code := ExitOK
	if all {
		for i := range cfg.Servers {
			if err := cfg.Servers[i].Err(); err != nil {
				unlisted, code = append(unlisted, err), ExitUsage
			}
		}
	}
	if listErr != nil {
		unlisted = append(unlisted, listErr)
		if code == ExitOK {
			code = ExitCode(listErr)
		}
	} else {
		// The listing covers the servers that connected; the others say why not.
		for _, st := range o.Servers() {
			if st.State != connectors.StateReady {
				reason := errors.New(string(st.State))
				if st.Err != nil {
					reason = st.Err
				}
				unlisted = append(unlisted, reason)
				if code == ExitOK {
					code = ExitConnect
				}
			}
		}
	}
	if len(unlisted) == 0 {
		return nil
	}
	return &ExitError{Code: code, Err: fmt.Errorf("some servers' %s are not listed:\n%w", what, errors.Join(unlisted...))}
}
