package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inProcess connects each dial to a fresh session of s over in-memory
// transports; the server session ends when the connector closes its side.
func inProcess(t *testing.T, s *mcp.Server) func(ctx context.Context) (mcp.Transport, error) {
	return func(ctx context.Context) (mcp.Transport, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := s.Connect(ctx, st, nil); err != nil {
			return nil, err
		}
		return ct, nil
	}
}

// blockingServer has a tool "block" that waits for its context to end and
// reports when it started and when it saw the cancellation.
func blockingServer(started, canceled chan<- struct{}) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "blocking", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "block"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-ctx.Done()
		canceled <- struct{}{}
		return nil, nil, ctx.Err()
	})
	return s
}

func TestListToolsFollowsPagination(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "many", Version: "1"}, &mcp.ServerOptions{PageSize: 2})
	for i := range 5 {
		mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("t%d", i)}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return textResult("ok"), nil, nil
		})
	}
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "many"}, NewTransport: inProcess(t, s)})
	if c.Transport() != "in-process" || c.Endpoint() != "in-process" {
		t.Errorf("Transport %q Endpoint %q", c.Transport(), c.Endpoint())
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	tools, err := c.ListTools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 5 {
		t.Errorf("got %d tools over pages of 2, want 5", len(tools))
	}
}

// ListToolsUpTo stops asking for pages once the server has offered more
// than the limit: the rest of the listing is never fetched.
func TestListToolsUpToStopsPaging(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "many", Version: "1"}, &mcp.ServerOptions{PageSize: 2})
	for i := range 9 {
		mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("t%d", i)}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return textResult("ok"), nil, nil
		})
	}
	var pages atomic.Int64
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				pages.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "many"}, NewTransport: inProcess(t, s)})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	tools, more, err := c.ListToolsUpTo(ctx, 3)
	if err != nil || !more || len(tools) != 3 || pages.Load() != 2 {
		t.Errorf("ListToolsUpTo(3) = %d tools, more %v, %v after %d pages; want 3, true, nil after 2 pages of 2", len(tools), more, err, pages.Load())
	}
	pages.Store(0)
	tools, more, err = c.ListToolsUpTo(ctx, 9)
	if err != nil || more || len(tools) != 9 || pages.Load() != 5 {
		t.Errorf("ListToolsUpTo(9) = %d tools, more %v, %v after %d pages; want 9, false, nil after 5 pages", len(tools), more, err, pages.Load())
	}
}

// Canceling the caller's context ends the call at once and reaches the
// server's handler.
func TestCallToolCancellationReachesServer(t *testing.T) {
	started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "blocking"}, NewTransport: inProcess(t, blockingServer(started, canceled))})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	callCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(callCtx, "block", nil, nil)
		errc <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the tool never started")
	}
	cancel()
	err := <-errc
	if err == nil || kindOf(t, err) != KindCanceled {
		t.Fatalf("canceled call: %v", err)
	}
	select {
	case <-canceled:
	case <-ctx.Done():
		t.Fatal("the server never saw the cancellation")
	}
	// The session survives a canceled call.
	if st := c.Status(); st.State != StateReady {
		t.Errorf("state %s", st.State)
	}
}

// The server's timeout bounds a call when the caller's context is longer,
// and the server hears that the call was given up.
func TestCallToolTimeout(t *testing.T) {
	started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "slow", Timeout: 100 * time.Millisecond}, NewTransport: inProcess(t, blockingServer(started, canceled))})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.CallTool(ctx, "block", nil, nil)
	if err == nil || kindOf(t, err) != KindTimeout || !strings.Contains(err.Error(), "100ms") {
		t.Fatalf("call past the timeout: %v", err)
	}
	<-started
	select {
	case <-canceled:
	case <-ctx.Done():
		t.Fatal("the server never saw the cancellation")
	}
}

func TestCallToolErrors(t *testing.T) {
	s := testMCPServer()
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "srv"}, NewTransport: inProcess(t, s)})

	_, err := c.CallTool(ctx, "echo", nil, nil)
	if err == nil || kindOf(t, err) != KindNotConnected {
		t.Errorf("before Connect: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}

	_, err = c.CallTool(ctx, "nosuch", nil, nil)
	var rpcErr *jsonrpc.Error
	if err == nil || kindOf(t, err) != KindProtocol || !errors.As(err, &rpcErr) {
		t.Errorf("unknown tool: %v", err)
	}

	// A tool error is a result, not a Go error.
	res, err := c.CallTool(ctx, "echo", map[string]any{"message": 42}, nil)
	if err != nil || !res.IsError {
		t.Errorf("bad arguments: res %+v err %v", res, err)
	}

	// The caller's meta is not written into.
	meta := mcp.Meta{"trace": "t1"}
	if _, err := c.CallTool(ctx, "echo", map[string]any{"message": "x"}, meta); err != nil {
		t.Fatal(err)
	}
	if len(meta) != 1 {
		t.Errorf("meta changed by the call: %v", meta)
	}

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	_, err = c.CallTool(ctx, "echo", nil, nil)
	if err == nil || kindOf(t, err) != KindNotConnected || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v", err)
	}
	if err := c.Connect(ctx); err == nil || kindOf(t, err) != KindNotConnected {
		t.Errorf("Connect after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Concurrent Connects share one attempt and one session.
func TestConcurrentConnect(t *testing.T) {
	var dials sync.WaitGroup
	var mu sync.Mutex
	n := 0
	s := testMCPServer()
	open := inProcess(t, s)
	c := mustNew(t, Options{Config: Config{Name: "srv"}, NewTransport: func(ctx context.Context) (mcp.Transport, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return open(ctx)
	}})
	ctx := testCtx(t)
	for range 8 {
		dials.Go(func() {
			if err := c.Connect(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	dials.Wait()
	if n != 1 {
		t.Errorf("%d dials for 8 concurrent Connects", n)
	}
}

// CallToolJSON sends arguments already encoded as they are; no arguments
// are the empty object (the server then misses the required field, rather
// than getting null).
func TestCallToolJSON(t *testing.T) {
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "echo"}, NewTransport: inProcess(t, testMCPServer())})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.CallToolJSON(ctx, "echo", json.RawMessage(`{"message":"hi <&>"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "echo: hi <&>" || res.IsError {
		t.Errorf("%q (IsError %v)", got, res.IsError)
	}
	res, err = c.CallToolJSON(ctx, "echo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; !res.IsError || !strings.Contains(got, `missing properties: ["message"]`) {
		t.Errorf("no arguments: %q (IsError %v), want the server to miss \"message\"", got, res.IsError)
	}
}
