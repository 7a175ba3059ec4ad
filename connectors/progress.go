package connectors

import (
	"context"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Progress is one progress report about a request in flight: a server's
// notifications/progress, or a task's status while it runs.
type Progress struct {
	Server   string
	Progress float64 // increases with each report
	Total    float64 // 0 when unknown
	Message  string  // from the server: untrusted text
}

type progressKey struct{}

// WithProgress returns a context whose requests report their progress to
// fn. fn is called from the connector's goroutines, one report at a time
// per request, and must not block.
func WithProgress(ctx context.Context, fn func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// progressFunc is ctx's progress callback, or nil.
func progressFunc(ctx context.Context) func(Progress) {
	fn, _ := ctx.Value(progressKey{}).(func(Progress))
	return fn
}

// progressRoutes maps the progress tokens of a connector's requests in
// flight to their callbacks. go-sdk hands every notifications/progress of
// a client to one handler; the token says whose it is.
type progressRoutes struct {
	mu     sync.Mutex
	seq    uint64
	routes map[string]*progressRoute
}

type progressRoute struct {
	mu   sync.Mutex // one report at a time per request
	fn   func(Progress)
	done bool // the request has returned: no more reports
}

// tokened is a request's params that carry a progress token.
type tokened interface{ SetProgressToken(any) }

// track gives params a progress token unique among the connector's
// requests when ctx carries a progress callback, and routes the
// request's progress to it until done is called; after done returns the
// callback is not called again. Reports read before the request's answer
// are handled before it returns (noticeOrder).
func (r *progressRoutes) track(ctx context.Context, params tokened) (done func()) {
	fn := progressFunc(ctx)
	if fn == nil {
		return func() {}
	}
	r.mu.Lock()
	r.seq++
	token := "mediator-" + strconv.FormatUint(r.seq, 10)
	if r.routes == nil {
		r.routes = make(map[string]*progressRoute)
	}
	route := &progressRoute{fn: fn}
	r.routes[token] = route
	r.mu.Unlock()
	params.SetProgressToken(token)
	return func() {
		r.mu.Lock()
		delete(r.routes, token)
		r.mu.Unlock()
		// A report being delivered finishes first; none follows.
		route.mu.Lock()
		route.done = true
		route.mu.Unlock()
	}
}

// report hands one notification to its request's callback; one for a
// token no request in flight has is dropped.
func (r *progressRoutes) report(server string, p *mcp.ProgressNotificationParams) {
	token, ok := p.ProgressToken.(string)
	if !ok {
		return
	}
	r.mu.Lock()
	route := r.routes[token]
	r.mu.Unlock()
	if route == nil {
		return
	}
	route.mu.Lock()
	defer route.mu.Unlock()
	if route.done {
		return
	}
	route.fn(Progress{Server: server, Progress: p.Progress, Total: p.Total, Message: p.Message})
}

// progressed is the client's notifications/progress handler.
func (c *Connector) progressed(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
	defer c.notices.done()
	if r.Params != nil {
		c.progress.report(c.cfg.Name, r.Params)
	}
}
