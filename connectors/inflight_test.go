package connectors

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// halfServer answers with a first part, flushes, and sends the rest when
// rest is closed (or never, if the request ends first). It counts the TCP
// connections it accepted.
func halfServer(t *testing.T, rest <-chan struct{}) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first|")
		w.(http.Flusher).Flush()
		select {
		case <-rest:
			_, _ = io.WriteString(w, "rest")
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func testStack(t *testing.T, url string, grace time.Duration) *httpStack {
	t.Helper()
	o, err := serverOrigin(url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newHTTPStack(o, nil, noAuth{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.origin.grace = grace
	t.Cleanup(st.close)
	return st
}

func get(t *testing.T, ctx context.Context, st *httpStack, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readPart(t *testing.T, r io.Reader, want string) {
	t.Helper()
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// go-sdk hands a call's result back while it still drains the response,
// and the connector then cancels the call's context. The drain must still
// succeed, so the keep-alive connection serves the next call instead of a
// new one being dialed for it.
func TestCanceledCallStillDrainsItsResponse(t *testing.T) {
	rest := make(chan struct{})
	srv, conns := halfServer(t, rest)
	st := testStack(t, srv.URL, time.Hour)

	ctx, cancel := context.WithCancel(testCtx(t))
	resp := get(t, ctx, st, srv.URL)
	readPart(t, resp.Body, "first|")
	cancel() // the call is over
	close(rest)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "rest" {
		t.Fatalf("draining after the caller canceled: %q, %v", b, err)
	}
	resp.Body.Close()

	resp = get(t, testCtx(t), st, srv.URL)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "first|rest" {
		t.Fatalf("second request: %q, %v", b, err)
	}
	resp.Body.Close()
	if n := conns.Load(); n != 1 {
		t.Errorf("the server accepted %d connections, want 1 (kept alive)", n)
	}
}

// A caller that gives up on a response still streaming has the request
// ended after the grace, so a server that never finishes holds nothing.
func TestCanceledCallEndsAStreamThatGoesOn(t *testing.T) {
	srv, _ := halfServer(t, make(chan struct{})) // the rest never comes
	st := testStack(t, srv.URL, time.Millisecond)

	ctx, cancel := context.WithCancel(testCtx(t))
	resp := get(t, ctx, st, srv.URL)
	defer resp.Body.Close()
	readPart(t, resp.Body, "first|")
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("reading on: %v, want context.Canceled", err)
	}
}

// Before the response arrives, the caller's cancellation ends the request
// at once, grace or not.
func TestCanceledCallEndsAWaitingRequestAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	st := testStack(t, srv.URL, time.Hour)

	ctx, cancel := context.WithCancel(testCtx(t))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := st.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("request: %v, want context.Canceled", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("the canceled request is still waiting for the server")
	}
}

// Closing the stack ends a response being read whatever its caller does.
func TestStackCloseEndsResponses(t *testing.T) {
	srv, _ := halfServer(t, make(chan struct{}))
	st := testStack(t, srv.URL, time.Hour)

	resp := get(t, testCtx(t), st, srv.URL)
	defer resp.Body.Close()
	readPart(t, resp.Body, "first|")
	st.close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the response went on after the stack closed")
	}
}
