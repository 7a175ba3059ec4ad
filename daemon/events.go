package daemon

import (
	"sync"
	"time"
)

// Event types, as Event.Type and the SSE event field name them. The
// engine's events keep their names (workflows.EventKind); run-finished is
// the daemon's own, sent once the run's execution ended and its audit
// records are written.
const (
	EventRunStarted   = "run-started"
	EventStepStarted  = "step-started"
	EventItemFinished = "item-finished"
	EventRetrying     = "retrying"
	EventProgress     = "progress"
	EventStepFinished = "step-finished"
	EventRunFinished  = "run-finished"
)

// Event is one report about a run. Text from servers (Message) and errors
// are redacted.
type Event struct {
	// Seq numbers the events of one run from 1, in order; an SSE client
	// reconnecting with Last-Event-ID gets those after it.
	Seq     int64     `json:"seq"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	RunID   string    `json:"run_id"`
	Path    string    `json:"path,omitempty"`
	Status  string    `json:"status,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Reused  bool      `json:"reused,omitempty"`
	// Items is a for_each step's item count (step-started).
	Items int `json:"items,omitempty"`
	// Server, Progress, Total and Message are a server's progress report
	// (progress).
	Server   string  `json:"server,omitempty"`
	Progress float64 `json:"progress,omitempty"`
	Total    float64 `json:"total,omitempty"`
	Message  string  `json:"message,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// maxHistory bounds the events a live run keeps for late subscribers; the
// oldest go first.
const maxHistory = 2048

// subBuffer is a subscriber's channel buffer. A subscriber that falls this
// far behind is dropped (its channel closed): it reconnects with the last
// Seq it saw.
const subBuffer = 256

// hub fans one run's events out to its subscribers.
type hub struct {
	mu      sync.Mutex
	seq     int64
	history []Event
	subs    map[chan Event]struct{}
	closed  bool
}

// newHub numbers its events after seq: the last of the run's earlier
// execution, 0 for a new run.
func newHub(seq int64) *hub { return &hub{seq: seq, subs: map[chan Event]struct{}{}} }

// nextSeq is the Seq the next event will have.
func (h *hub) nextSeq() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq + 1
}

// publish numbers ev and sends it to every subscriber; a run-finished
// event closes the hub.
func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	ev.Seq = h.seq
	h.history = append(h.history, ev)
	if len(h.history) > maxHistory {
		h.history = h.history[len(h.history)-maxHistory:]
	}
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
	if ev.Type == EventRunFinished {
		h.closed = true
		for ch := range h.subs {
			close(ch)
		}
		h.subs = nil
	}
}

// subscribe returns the events after seq (those still kept) followed by
// the live ones; the channel closes after run-finished, or when the
// subscriber falls behind. cancel stops the subscription.
func (h *hub) subscribe(after int64) (<-chan Event, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var backlog []Event
	for _, ev := range h.history {
		if ev.Seq > after {
			backlog = append(backlog, ev)
		}
	}
	ch := make(chan Event, len(backlog)+subBuffer)
	for _, ev := range backlog {
		ch <- ev
	}
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}
