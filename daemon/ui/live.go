package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sseKeepAlive is how often an idle stream gets a comment line, so that
// proxies keep it open.
const sseKeepAlive = 15 * time.Second

// liveMessage is an event's data: HTML replaces the children of the
// element whose data-live names the stream (static/live.js), Announce
// is read out by screen readers (the page's aria-live region).
type liveMessage struct {
	HTML     string `json:"html,omitempty"`
	Announce string `json:"announce,omitempty"`
}

// sessionEnded is the last event of a stream whose session ended.
var sessionEnded = liveMessage{Announce: "Your session ended; reload the page to log in again."}

// daemonStopping is the last event of a stream when the daemon stops.
var daemonStopping = liveMessage{Announce: "The daemon is stopping; reload the page once it is back."}

// sseStream writes server-sent events to one response.
type sseStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers 200 with an event stream that outlives the server's
// write timeout.
func startSSE(w http.ResponseWriter) *sseStream {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return &sseStream{w: w, rc: rc}
}

// send writes one event; "end" tells static/live.js to stop listening.
func (s *sseStream) send(event string, msg liveMessage) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseStream) comment() error {
	if _, err := io.WriteString(s.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}
