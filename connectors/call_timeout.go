package connectors

import (
	"context"
	"fmt"
	"time"
)

type callTimeoutKey struct{}

// WithCallTimeout returns a context whose tool calls get d in place of the
// server's timeout. A caller with its own, deliberate bound (a workflow
// step's timeout) uses it so that bound holds whether it is shorter or
// longer than the server's default; without it the connector would end a
// long step at the server's timeout first. d <= 0 leaves the server's.
func WithCallTimeout(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, callTimeoutKey{}, d)
}

// callTimeout is the bound for a tool call made with ctx.
func (c *Connector) callTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(callTimeoutKey{}).(time.Duration); ok {
		return d
	}
	return c.cfg.Timeout
}

// timeoutText says which timeout ended a call made with ctx.
func (c *Connector) timeoutText(ctx context.Context) string {
	if d, ok := ctx.Value(callTimeoutKey{}).(time.Duration); ok {
		return fmt.Sprintf("the call's timeout is %s", d)
	}
	return fmt.Sprintf("the server's timeout is %s", c.cfg.Timeout)
}
