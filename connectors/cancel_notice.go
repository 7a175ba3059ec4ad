package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cancelNoticeWait bounds how long a canceled operation waits for its
// notifications/cancelled to reach a stdio server's stdin or an HTTP
// server. Writing to a pipe takes microseconds, a loopback POST a
// millisecond; a server that stopped reading (or answering) does not
// delay the caller by more than this.
const cancelNoticeWait = 100 * time.Millisecond

// cancelNotices lets a canceled operation return only once the server was
// told. go-sdk sends notifications/cancelled from a goroutine of its own
// after the canceled call has returned; a command that then closes the
// session at once (Ctrl-C, a stopping worker) would otherwise close the
// server's stdin (or an HTTP session) first, and the server would never
// learn that the call was canceled.
//
// Each canceled operation owes one notice and waits until as many have
// been written as were owed when it was canceled; once every operation
// has returned, every notice is written.
type cancelNotices struct {
	mu      sync.Mutex
	owed    int64
	written int64
	changed chan struct{} // closed and replaced at each notice written
}

func newCancelNotices() *cancelNotices { return &cancelNotices{changed: make(chan struct{})} }

// sent records one notice written to the server.
func (n *cancelNotices) sent() {
	n.mu.Lock()
	n.written++
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// await records one notice owed and waits, for at most timeout, until it
// is written.
func (n *cancelNotices) await(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	n.mu.Lock()
	n.owed++
	target := n.owed
	for n.written < target {
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return
		}
		n.mu.Lock()
	}
	n.mu.Unlock()
}

// told waits until the server was told of a canceled operation: go-sdk
// sends notifications/cancelled when ctx ended the operation (err), not
// when the connection was gone.
func (c *Connector) told(ctx context.Context, err error) {
	if c.cancels == nil || err == nil || ctx.Err() == nil || errors.Is(err, mcp.ErrConnectionClosed) {
		return
	}
	c.cancels.await(cancelNoticeWait)
}

// maxCancelNotice bounds the size of a request body that
// isCancelNoticeRequest reads: a notice is about a hundred bytes.
const maxCancelNotice = 1024

// isCancelNoticeRequest reports whether req, a POST to an HTTP server,
// carries a notifications/cancelled, reading a copy of its body.
func isCancelNoticeRequest(req *http.Request) bool {
	if req.Method != http.MethodPost || req.GetBody == nil || req.ContentLength <= 0 || req.ContentLength > maxCancelNotice {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxCancelNotice))
	return err == nil && isCancelNotice(b)
}

// isCancelNotice reports whether b, one message written to a server, is
// a notifications/cancelled.
func isCancelNotice(b []byte) bool {
	if !bytes.Contains(b, []byte(`"notifications/cancelled"`)) {
		return false
	}
	var m struct {
		Method string           `json:"method"`
		ID     *json.RawMessage `json:"id"`
	}
	return json.Unmarshal(b, &m) == nil && m.Method == "notifications/cancelled" && m.ID == nil
}
