package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
)

// startTracing returns the daemon's tracing as daemon.tracing or the
// standard OTEL_EXPORTER_OTLP_* variables ask for it, else nil (off, at
// no cost). daemon.tracing.secret_headers are read from the keyring. The
// SDK's errors (a collector that is down) go to logger, as the rest of
// the daemon's log.
func startTracing(ctx context.Context, opts *Options, cfg *config.Config, logger *slog.Logger) (*daemon.Tracing, error) {
	tc := cfg.Daemon.Tracing
	if tc == nil && !daemon.TracingFromEnv(os.Getenv) {
		return nil, nil
	}
	to := daemon.TracingOptions{}
	if tc != nil {
		to.Endpoint, to.SampleRatio = tc.Endpoint, tc.SampleRatio
		if len(tc.SecretHeaders) > 0 {
			store, err := opts.Secrets(ctx, cfg)
			if err != nil {
				return nil, cmdutil.Errorf(cmdutil.ExitConnect, "daemon.tracing.secret_headers: %v", err)
			}
			to.Headers = map[string]string{}
			for h, item := range tc.SecretHeaders {
				v, err := store.Get(config.DaemonSecretServer, item)
				if errors.Is(err, credentials.ErrNotFound) {
					return nil, cmdutil.Errorf(cmdutil.ExitUsage, "daemon.tracing.secret_headers.%s: no keyring item %s/%s; store it with: mediator secret set %s %s", h, config.DaemonSecretServer, item, config.DaemonSecretServer, item)
				}
				if err != nil {
					return nil, cmdutil.Errorf(cmdutil.ExitConnect, "daemon.tracing.secret_headers.%s: %v", h, err)
				}
				to.Headers[h] = v.Reveal()
			}
		}
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("traces not exported", "error", err.Error())
	}))
	tr, err := daemon.NewTracing(ctx, to)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "daemon.tracing: %v", err)
	}
	return tr, nil
}

// stopTracing sends the spans still buffered, within five seconds.
func stopTracing(tr *daemon.Tracing, logger *slog.Logger) {
	if tr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		logger.Warn("traces not all sent at shutdown", "error", err.Error())
	}
}
