package serve

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// subscriptions are the host sessions' resource subscriptions, each
// through the orchestrator to the server offering the URI. go-sdk keeps
// which sessions subscribed to a URI and sends each its updates
// (mcp.Server.ResourceUpdated).
type subscriptions struct {
	mu sync.Mutex
	m  map[subKey]*orchestrator.Subscription
}

type subKey struct {
	ss  *mcp.ServerSession
	uri string
}

// subscribe subscribes the host session to a resource the gateway
// offers, through the orchestrator: the URI the host sends may carry
// what the session was given, so it goes under the session's standing
// with the policy. Subscribing again to a URI is a no-op.
func (s *Server) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	uri := req.Params.URI
	server := s.routes.resource(uri, false)
	if server == "" {
		return requestError(fmt.Errorf("resources/subscribe: resource %q is not offered by mediator", uri))
	}
	if err := s.authorize(ctx, uri); err != nil {
		return requestError(err)
	}
	o := s.orchestrator()
	if o == nil {
		return requestError(fmt.Errorf("resources/subscribe of %q: mediator is not ready yet", uri))
	}
	key := subKey{req.Session, uri}
	if s.subs.get(key) != nil {
		return nil
	}
	st := s.sessions.of(s, req.Session)
	ctx = st.context(ctx, pendingRequest{method: orchestrator.MethodSubscribe, name: uri})
	defer s.inflight.enterRequest(ctx, server, st)()
	sub, err := o.Subscribe(ctx, server, uri, st.provenance())
	if err != nil {
		return requestError(err)
	}
	if !s.subs.add(key, sub) {
		// A concurrent request subscribed the session first.
		_ = o.Unsubscribe(context.WithoutCancel(ctx), sub)
	}
	return nil
}

// unsubscribe ends the host session's subscription to uri, if any.
func (s *Server) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	sub := s.subs.take(subKey{req.Session, req.Params.URI})
	o := s.orchestrator()
	if sub == nil || o == nil {
		return nil
	}
	if err := o.Unsubscribe(ctx, sub); err != nil {
		return requestError(err)
	}
	return nil
}

// unsubscribeAll ends the subscriptions of a host session that ended.
func (s *Server) unsubscribeAll(ss *mcp.ServerSession) {
	o := s.orchestrator()
	if o == nil {
		return
	}
	for _, sub := range s.subs.takeAll(ss) {
		ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
		if err := o.Unsubscribe(ctx, sub); err != nil {
			s.log.Warn("serve: unsubscribing an ended host session from a resource", "server", sub.Server, "error", err)
		}
		cancel()
	}
}

// resubscribe moves the host sessions' subscriptions onto o, which
// replaced the orchestrator they were made through (whose close ends
// them there). One that o refuses, or whose resource is no longer
// offered, is logged and dropped: the host gets no more updates of it.
func (s *Server) resubscribe(o *orchestrator.Orchestrator) {
	for k, old := range s.subs.all() {
		ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
		server := s.routes.resource(k.uri, false)
		var (
			sub *orchestrator.Subscription
			err = fmt.Errorf("resource %q is no longer offered", k.uri)
		)
		if server != "" {
			st := s.sessions.of(s, k.ss)
			sctx := st.context(ctx, pendingRequest{method: orchestrator.MethodSubscribe, name: k.uri})
			sub, err = o.Subscribe(sctx, server, k.uri, st.provenance())
		}
		cancel()
		if err != nil {
			s.log.Warn("serve: a host's resource subscription ends with the config's servers it was made on", "server", old.Server, "error", err)
			s.subs.replace(k, old, nil)
			continue
		}
		if !s.subs.replace(k, old, sub) {
			_ = o.Unsubscribe(context.Background(), sub)
		}
	}
}

// resourceUpdated passes a server's notifications/resources/updated on
// to the host sessions subscribed to the URI through that server. It
// does not block.
func (s *Server) resourceUpdated(server, uri string) {
	if !s.subs.has(server, uri) {
		return
	}
	go func() {
		_ = s.mcp.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: uri})
	}()
}

func (sb *subscriptions) get(k subKey) *orchestrator.Subscription {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.m[k]
}

// add records sub under k, unless k has one already (false).
func (sb *subscriptions) add(k subKey, sub *orchestrator.Subscription) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.m == nil {
		sb.m = map[subKey]*orchestrator.Subscription{}
	}
	if sb.m[k] != nil {
		return false
	}
	sb.m[k] = sub
	return true
}

func (sb *subscriptions) take(k subKey) *orchestrator.Subscription {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sub := sb.m[k]
	delete(sb.m, k)
	return sub
}

func (sb *subscriptions) takeAll(ss *mcp.ServerSession) []*orchestrator.Subscription {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var out []*orchestrator.Subscription
	for k, sub := range sb.m {
		if k.ss == ss {
			out = append(out, sub)
			delete(sb.m, k)
		}
	}
	return out
}

// all is every subscription, by key.
func (sb *subscriptions) all() map[subKey]*orchestrator.Subscription {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return maps.Clone(sb.m)
}

// replace puts sub (nil: none) in old's place under k, unless k no
// longer holds old (the host unsubscribed meanwhile: false).
func (sb *subscriptions) replace(k subKey, old, sub *orchestrator.Subscription) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.m[k] != old {
		return false
	}
	if sub == nil {
		delete(sb.m, k)
	} else {
		sb.m[k] = sub
	}
	return true
}

// has reports whether a host session is subscribed to uri of server.
func (sb *subscriptions) has(server, uri string) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for k, sub := range sb.m {
		if k.uri == uri && sub.Server == server {
			return true
		}
	}
	return false
}
