package connectors

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A call timeout replaces the server's, shorter or longer, and the error
// says which one ended the call.
func TestWithCallTimeoutReplacesTheServers(t *testing.T) {
	started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "blocking", Timeout: time.Hour}, NewTransport: inProcess(t, blockingServer(started, canceled))})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.callTimeout(WithCallTimeout(ctx, 2*time.Hour)); got != 2*time.Hour {
		t.Errorf("longer call timeout: %s", got)
	}
	if got := c.callTimeout(WithCallTimeout(ctx, 0)); got != time.Hour {
		t.Errorf("zero call timeout: %s, want the server's", got)
	}
	// The block tool never answers: only the call timeout can end it,
	// since the server's is an hour.
	_, err := c.CallTool(WithCallTimeout(ctx, time.Millisecond), "block", nil, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindTimeout || !strings.Contains(err.Error(), "the call's timeout is 1ms") {
		t.Fatalf("err = %v", err)
	}
}
