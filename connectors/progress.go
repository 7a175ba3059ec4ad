package connectors

import "context"

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
