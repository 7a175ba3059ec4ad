package connectors

import (
	"context"
	"net/http/httptest"
	"testing"
)

// A canceled call's notifications/cancelled reaches an HTTP server before
// the session is closed, even when Close follows at once (a stopping
// worker, Ctrl-C): go-sdk sends the notice from a goroutine of its own,
// and without waiting for it Close's DELETE could come first, leaving
// the server's handler running.
func TestCanceledHTTPCallIsToldBeforeClose(t *testing.T) {
	for _, transport := range []string{TransportStreamableHTTP, TransportSSE} {
		t.Run(transport, func(t *testing.T) {
			started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
			srv := httptest.NewServer(mcpHandler(transport, blockingServer(started, canceled)))
			t.Cleanup(srv.Close)
			c := mustNew(t, Options{Config: Config{Name: "blocking", URL: srv.URL, Transport: transport}})
			ctx := testCtx(t)
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			callCtx, cancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() {
				_, err := c.CallTool(callCtx, "block", nil, nil)
				errc <- err
			}()
			<-started
			cancel()
			if err := <-errc; kindOf(t, err) != KindCanceled {
				t.Fatalf("the canceled call: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-canceled:
			case <-ctx.Done():
				t.Fatal("the server never saw the cancellation")
			}
		})
	}
}
