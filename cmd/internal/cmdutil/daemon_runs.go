package cmdutil

import (
	"context"
	"log/slog"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// DaemonRunsDeps is what the daemon hands the run service it opens over
// Temporal (Temporal.DaemonRuns); the service takes the rest (the
// cluster, the policy, the servers' timeouts) from the config.
type DaemonRunsDeps struct {
	// Catalog is the workflows it may start; SetCatalog replaces it.
	Catalog *daemon.Catalog
	// PolicyFlows and TrustAnnotations are the config's policy as the
	// daemon reads it (flowrun.PolicyOf), for the runs' input.
	PolicyFlows      []flow.FlowEdge
	TrustAnnotations func(server string) bool
	// Redactor masks known secrets in every error, output and event;
	// asked at each use.
	Redactor func() *credentials.Redactor
	Logger   *slog.Logger
}

// DaemonRunService is the daemon's run manager: *daemon.Runs (engine:
// local) or a client of the Temporal cluster the runs execute on.
type DaemonRunService interface {
	daemon.RunService
	daemon.Submitter
	// SetCatalog replaces the workflows SubmitRun may start (a reload).
	SetCatalog(c *daemon.Catalog)
	// Shutdown stops taking runs and releases what the service holds:
	// *daemon.Runs gives its runs until ctx ends; a Temporal client's runs
	// go on in the cluster.
	Shutdown(ctx context.Context) error
}

var _ DaemonRunService = (*daemon.Runs)(nil)
