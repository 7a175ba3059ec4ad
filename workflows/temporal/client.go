package temporal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// ClientOptions say how to reach a Temporal cluster. Clients and workers
// of a namespace must share Codec's key.
type ClientOptions struct {
	HostPort  string
	Namespace string
	// TLS, when set, is the connection's TLS (a client certificate for
	// mTLS goes in its Certificates).
	TLS *tls.Config
	// Codec encrypts payloads and failure messages (Converters); nil
	// leaves history in clear text.
	Codec *Codec
	// Identity names this client or worker in Temporal's records;
	// empty uses the SDK's default (pid@host).
	Identity string
	Logger   *slog.Logger
}

// Dial connects to the cluster, checking that it answers.
func Dial(ctx context.Context, o ClientOptions) (client.Client, error) {
	if o.HostPort == "" {
		return nil, errors.New("temporal: no host_port to dial")
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	opts := client.Options{
		HostPort:  o.HostPort,
		Namespace: o.Namespace,
		Identity:  o.Identity,
		Logger:    log.NewStructuredLogger(lg),
	}
	if o.TLS != nil {
		opts.ConnectionOptions.TLS = o.TLS
	}
	if o.Codec != nil {
		opts.DataConverter, opts.FailureConverter = Converters(o.Codec)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal: dial %s (namespace %q): %w", o.HostPort, o.Namespace, err)
	}
	return c, nil
}
