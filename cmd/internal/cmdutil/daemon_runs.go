package cmdutil

// DaemonRunsDeps is what the daemon hands the run service it opens over
// Temporal.
type DaemonRunsDeps struct{}

// DaemonRunService is the daemon's run service over Temporal.
type DaemonRunService interface {
	Close() error
}
