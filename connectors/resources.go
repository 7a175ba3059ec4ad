package connectors

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/bytesize"
)

// DefaultMaxResourceBytes applies when Config.MaxResourceBytes is zero.
const DefaultMaxResourceBytes = 16 << 20

// maxListPages bounds the pages of one listing: a server that hands out
// fresh cursors forever is refused long before the timeout would end it.
const maxListPages = 1000

// listPages follows a paginated listing page by page, up to max items
// (max <= 0: no limit), and says whether the server offered more. The
// server's timeout bounds the whole listing unless ctx is shorter.
//
// A cursor is followed while the server sends a non-empty nextCursor. The
// spec allows "" as a cursor, but go-sdk v1.8.0 decodes a nextCursor of ""
// exactly as one that is absent and cannot send "" back (both fields are
// omitempty strings), so for mediator, as for any go-sdk client, "" ends
// the listing. A cursor the server already gave is refused: the listing
// would loop.
func listPages[T any](ctx context.Context, c *Connector, op string, max int,
	page func(ctx context.Context, cs *mcp.ClientSession, cursor string) ([]*T, string, error),
) (items []*T, more bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cs, st, err := c.await(ctx, func() string { return op })
	if err != nil {
		return nil, false, err
	}
	p := c.newProbe(st)
	seen := map[string]bool{}
	cursor := ""
	for pages := 1; ; pages++ {
		got, next, err := page(ctx, cs, cursor)
		if err != nil {
			c.told(ctx, err)
			return nil, false, c.failed(cs, c.classify(ctx, op, err, p))
		}
		for _, it := range got {
			if max > 0 && len(items) == max {
				return items, true, nil
			}
			items = append(items, it)
		}
		if next == "" {
			return items, false, nil
		}
		if seen[next] {
			return nil, false, c.newError(KindProtocol, fmt.Errorf("%s: the server's pagination loops (it gave cursor %q twice)", op, truncate(next, 40)))
		}
		if pages == maxListPages {
			return nil, false, c.newError(KindProtocol, fmt.Errorf("%s: the server's listing goes on past %d pages; mediator stopped asking", op, maxListPages))
		}
		seen[next] = true
		cursor = next
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ListResources returns the server's resources, following pagination, up
// to max (max <= 0: no limit; more says the server offered more).
func (c *Connector) ListResources(ctx context.Context, max int) (resources []*mcp.Resource, more bool, err error) {
	return listPages(ctx, c, "list resources", max, func(ctx context.Context, cs *mcp.ClientSession, cursor string) ([]*mcp.Resource, string, error) {
		res, err := cs.ListResources(ctx, &mcp.ListResourcesParams{Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		return res.Resources, res.NextCursor, nil
	})
}

// ListResourceTemplates returns the server's resource templates, following
// pagination, up to max as ListResources does.
func (c *Connector) ListResourceTemplates(ctx context.Context, max int) (templates []*mcp.ResourceTemplate, more bool, err error) {
	return listPages(ctx, c, "list resource templates", max, func(ctx context.Context, cs *mcp.ClientSession, cursor string) ([]*mcp.ResourceTemplate, string, error) {
		res, err := cs.ListResourceTemplates(ctx, &mcp.ListResourceTemplatesParams{Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		return res.ResourceTemplates, res.NextCursor, nil
	})
}

// ReadResource reads one resource. Its contents (every text's bytes and
// every blob's decoded bytes) may take at most Config.MaxResourceBytes: a
// larger resource fails with KindTooLarge. While the read is in flight the
// session's message limit is raised, if need be, to what a resource of
// that size takes on the wire (base64 and the JSON around it); an answer
// larger than that is refused as it arrives, never read whole, and ends
// the session as any message over the limit does. A resource within the
// wire bound but over the cap (text heavy with escapes) is refused after
// decoding, and the session lives on.
//
// The server's timeout applies unless ctx is shorter.
func (c *Connector) ReadResource(ctx context.Context, uri string) (*mcp.ReadResourceResult, error) {
	op := func() string { return fmt.Sprintf("read resource %q", uri) }
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cs, st, err := c.await(ctx, op)
	if err != nil {
		return nil, err
	}
	done := c.limit.reading(wireBytes(c.cfg.MaxResourceBytes))
	defer done()
	p := c.newProbe(st)
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	c.noticesSettled(ctx)
	if err != nil {
		c.told(ctx, err)
		ce := c.failed(cs, c.classify(ctx, op(), err, p))
		if ce.Kind == KindTooLarge {
			ce = c.newError(KindTooLarge, fmt.Errorf("%s: the server's answer went over %s on the wire, more than a resource of max_resource_bytes (%s) takes; "+
				"mediator dropped it and the session (raise max_resource_bytes in the server's config if you expect resources this large)",
				op(), bytesize.Format(c.limit.current()), bytesize.Format(c.cfg.MaxResourceBytes)))
		}
		return nil, ce
	}
	if n := ContentsSize(res.Contents); n > c.cfg.MaxResourceBytes {
		return nil, c.newError(KindTooLarge, fmt.Errorf("%s: the resource holds %s, more than max_resource_bytes (%s); mediator refused it "+
			"(raise max_resource_bytes in the server's config if you expect resources this large)",
			op(), bytesize.Format(n), bytesize.Format(c.cfg.MaxResourceBytes)))
	}
	return res, nil
}

// ContentsSize is what a read's contents take: every text's bytes and
// every blob's decoded bytes.
func ContentsSize(contents []*mcp.ResourceContents) int64 {
	var n int64
	for _, rc := range contents {
		if rc != nil {
			n += int64(len(rc.Text) + len(rc.Blob))
		}
	}
	return n
}

// wireBytes is the most a resource of n bytes takes as one message: its
// bytes as base64, and room for the JSON-RPC envelope around them.
func wireBytes(n int64) int64 { return n + (n+2)/3 + 64<<10 }

// ResourceUpdate is a resources/updated notification: the resource at URI
// changed, and may be read again.
type ResourceUpdate struct {
	Server string
	URI    string
}

// subscriptions are a connector's resource subscriptions, which outlive
// sessions: a new session subscribes to each again.
type subscriptions struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]func(ResourceUpdate) // by URI, by subscription id
}

// Subscribe asks the server to notify changes of the resource at uri, and
// calls fn with each resources/updated for it (on go-sdk's goroutine: fn
// must not block). The subscription lasts until the returned cancel is
// called (which unsubscribes once no other callback wants the URI) or the
// connector closes, across reconnects. The server's timeout bounds the
// request unless ctx is shorter.
func (c *Connector) Subscribe(ctx context.Context, uri string, fn func(ResourceUpdate)) (cancel func(context.Context) error, err error) {
	op := func() string { return fmt.Sprintf("subscribe to resource %q", uri) }
	if err := c.resourceRequest(ctx, op, func(ctx context.Context, cs *mcp.ClientSession) error {
		return cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
	}); err != nil {
		return nil, err
	}
	s := &c.subs
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[string]map[int]func(ResourceUpdate){}
	}
	if s.subs[uri] == nil {
		s.subs[uri] = map[int]func(ResourceUpdate){}
	}
	s.next++
	id := s.next
	s.subs[uri][id] = fn
	s.mu.Unlock()
	return func(ctx context.Context) error {
		s.mu.Lock()
		_, ok := s.subs[uri][id]
		delete(s.subs[uri], id)
		last := ok && len(s.subs[uri]) == 0
		if last {
			delete(s.subs, uri)
		}
		s.mu.Unlock()
		if !last {
			return nil
		}
		return c.resourceRequest(ctx, func() string { return fmt.Sprintf("unsubscribe from resource %q", uri) },
			func(ctx context.Context, cs *mcp.ClientSession) error {
				return cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri})
			})
	}, nil
}

// resourceRequest sends one request that answers nothing but success,
// bounded by the server's timeout.
func (c *Connector) resourceRequest(ctx context.Context, op func() string, send func(context.Context, *mcp.ClientSession) error) error {
	_, err := request(ctx, c, op, nil, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
		return struct{}{}, send(ctx, cs)
	})
	return err
}

// request sends one request once the server is ready, bounded by the
// server's timeout unless ctx is shorter, and classifies its failure as
// op's (see classify). ready, when set, is asked first whether the
// session can take the request at all; its error is returned as is and
// nothing is sent.
func request[R any](ctx context.Context, c *Connector, op func() string, ready func(*mcp.ClientSession) error, send func(context.Context, *mcp.ClientSession) (R, error)) (R, error) {
	var zero R
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cs, st, err := c.await(ctx, op)
	if err != nil {
		return zero, err
	}
	if ready != nil {
		if err := ready(cs); err != nil {
			return zero, err
		}
	}
	p := c.newProbe(st)
	res, err := send(ctx, cs)
	c.noticesSettled(ctx)
	if err != nil {
		c.told(ctx, err)
		return zero, c.failed(cs, c.classify(ctx, op(), err, p))
	}
	return res, nil
}

// resourceUpdated hands a resources/updated notification to the
// callbacks subscribed to its URI.
func (c *Connector) resourceUpdated(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
	if req == nil || req.Params == nil {
		return
	}
	uri := req.Params.URI
	c.subs.mu.Lock()
	fns := slices.Collect(maps.Values(c.subs.subs[uri]))
	c.subs.mu.Unlock()
	for _, fn := range fns {
		fn(ResourceUpdate{Server: c.cfg.Name, URI: uri})
	}
	if f := c.opts.Host.ResourceUpdated; f != nil {
		f(c.cfg.Name, uri)
	}
}

// subscribedURIs are the URIs with a subscription now, sorted.
func (c *Connector) subscribedURIs() []string {
	c.subs.mu.Lock()
	defer c.subs.mu.Unlock()
	return slices.Sorted(maps.Keys(c.subs.subs))
}

// resubscribe subscribes a new session to uris, those subscribed before it
// opened; a URI the server refuses now is logged and stays subscribed for
// the next session.
func (c *Connector) resubscribe(cs *mcp.ClientSession, uris []string) {
	for _, uri := range uris {
		ctx, cancel := context.WithTimeout(c.life, c.cfg.Timeout)
		err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
		cancel()
		if err != nil {
			c.log.Warn("resubscribing to a resource after a reconnect failed", "uri", uri, "error", c.redactor.Redact(err.Error()))
		}
	}
}

// ServerCapabilities are what the server said it offers when the live
// session opened; nil while there is no session.
func (c *Connector) ServerCapabilities() *mcp.ServerCapabilities {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil
	}
	if ir := c.session.InitializeResult(); ir != nil {
		return ir.Capabilities
	}
	return nil
}
