package orchestrator

import (
	"context"
	"fmt"
	"sync"

	"github.com/mediatorhq/mediator/connectors"
)

// Audit methods of resource subscriptions.
const (
	MethodSubscribe   = "resources/subscribe"
	MethodUnsubscribe = "resources/unsubscribe"
)

// Subscription is one subscription to a resource of a server, made with
// Subscribe; Unsubscribe ends it. While it lasts (across reconnects) the
// server's notifications/resources/updated for URI reach Host.ResourceUpdated.
type Subscription struct {
	Server string
	URI    string
	CallID string

	mu     sync.Mutex
	cancel func(context.Context) error // nil once unsubscribed
}

// Subscribe asks server to notify changes of the resource at uri. The
// server's resources filter must allow the URI, and the data-flow policy
// must let data of provenance prov (where the URI came from) go to
// server; either refusal sends nothing. It is audited as MethodSubscribe,
// the URI a value (as a read's). Several subscriptions to one URI share
// the server's: it is unsubscribed when the last ends.
func (o *Orchestrator) Subscribe(ctx context.Context, server, uri string, prov Provenance) (*Subscription, error) {
	argsJSON, err := paramsJSON(map[string]any{"uri": uri})
	if err != nil {
		return nil, err
	}
	sub := &Subscription{Server: server, URI: uri}
	req := request{server: server, method: MethodSubscribe, target: uri, argsJSON: argsJSON, prov: prov,
		allowed: func(cfg ServerConfig) string { return cfg.Resources.excludes("resources", uri) }}
	id, _, _, err := o.send(ctx, req, func(ctx context.Context, conn *connectors.Connector) error {
		cancel, err := conn.Subscribe(ctx, uri, func(connectors.ResourceUpdate) {})
		if err != nil {
			e := o.connErr(server, "", err)
			e.Msg = fmt.Sprintf("subscribing to resource %q of server %q", uri, server)
			e.audit = fmt.Sprintf("subscribing to a resource of server %q", server)
			return e
		}
		sub.cancel = cancel
		return nil
	})
	if err != nil {
		if sub.cancel != nil {
			// Subscribed, but the record could not be written.
			_ = sub.cancel(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	sub.CallID = id
	return sub, nil
}

// Unsubscribe ends sub, audited as MethodUnsubscribe; ending it again
// does nothing. When the request is refused before anything is sent
// (the audit log not writable) sub stands. The server is asked to unsubscribe once no other
// subscription wants the URI.
func (o *Orchestrator) Unsubscribe(ctx context.Context, sub *Subscription) error {
	sub.mu.Lock()
	cancel := sub.cancel
	sub.cancel = nil
	sub.mu.Unlock()
	if cancel == nil {
		return nil
	}
	argsJSON, err := paramsJSON(map[string]any{"uri": sub.URI})
	if err != nil {
		return err
	}
	// Nothing new goes to the server: the URI was checked at Subscribe.
	req := request{server: sub.Server, method: MethodUnsubscribe, target: sub.URI, argsJSON: argsJSON,
		allowed: func(ServerConfig) string { return "" }}
	ran := false
	_, _, _, err = o.send(ctx, req, func(ctx context.Context, _ *connectors.Connector) error {
		ran = true
		if err := cancel(ctx); err != nil {
			e := o.connErr(sub.Server, "", err)
			e.Msg = fmt.Sprintf("unsubscribing from resource %q of server %q", sub.URI, sub.Server)
			e.audit = fmt.Sprintf("unsubscribing from a resource of server %q", sub.Server)
			return e
		}
		return nil
	})
	if !ran {
		// Refused before anything was sent (the audit log, a closed
		// orchestrator): sub still stands, and may be ended again.
		sub.mu.Lock()
		sub.cancel = cancel
		sub.mu.Unlock()
	}
	return err
}
