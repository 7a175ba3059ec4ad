// Package guard is the front door of the example MCP servers: it checks the
// key each server requires and keeps the server's own log of every HTTP
// request it received. The demo reads that log to show which credential
// each server actually saw.
package guard

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is one HTTP request as the server received it.
type Entry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Remote string    `json:"remote"`
	// RPC is the JSON-RPC method the body carried ("tools/call"), or
	// "response" for a client's answer to a server request; empty otherwise.
	RPC string `json:"rpc,omitempty"`
	// HeaderNames lists every header the request carried, canonical and sorted.
	HeaderNames []string `json:"header_names"`
	// Credentials holds the raw values of the headers that can carry a
	// credential (Authorization, X-API-Key, Cookie, anything named like a key
	// or token), keyed by canonical header name (X-Api-Key). It is the
	// server's own record of what it was shown; never print it.
	Credentials map[string]string `json:"-"`
	// Presented is the credential in the header this server checks (the
	// token without "Bearer "), empty when absent.
	Presented string `json:"-"`
	// Status is the HTTP status the server answered with.
	Status int `json:"status"`
	// Authorized reports whether the presented credential was this server's key.
	Authorized bool `json:"authorized"`

	// raw is the request as received (URL, header values, body up to
	// maxLoggedBody) so Saw can look for a value anywhere in it.
	raw string
}

// maxLoggedBody bounds how much of a request body the log keeps; MCP
// requests of the examples are far smaller.
const maxLoggedBody = 1 << 20

// RequestLog is a server's record of every request it received. It is safe
// for concurrent use.
type RequestLog struct {
	logger *slog.Logger

	mu      sync.Mutex
	entries []Entry
}

// NewRequestLog returns an empty log. When logger is not nil every answered
// request is also logged there, without any credential value.
func NewRequestLog(logger *slog.Logger) *RequestLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RequestLog{logger: logger}
}

// add appends e and returns its index for setStatus.
func (l *RequestLog) add(e Entry) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	return len(l.entries) - 1
}

// setStatus fills in the status once the handler has answered; the entry is
// added on arrival so a long-lived stream shows up while it is open.
func (l *RequestLog) setStatus(i, status int) {
	l.mu.Lock()
	l.entries[i].Status = status
	e := l.entries[i]
	l.mu.Unlock()
	l.logAnswered(e)
}

func (l *RequestLog) logAnswered(e Entry) {
	l.logger.Info("request", "method", e.Method, "path", e.Path, "remote", e.Remote,
		"status", e.Status, "authorized", e.Authorized, "headers", e.HeaderNames)
}

// Entries returns a copy of every entry in arrival order.
func (l *RequestLog) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, len(l.entries))
	for i, e := range l.entries {
		e.HeaderNames = slices.Clone(e.HeaderNames)
		e.Credentials = maps.Clone(e.Credentials)
		out[i] = e
	}
	return out
}

// Len is the number of requests received.
func (l *RequestLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Saw counts the requests that contained value anywhere: in the URL, in any
// header or in the body. It is how the demo proves a server never received
// another server's key, wherever a client might have put it.
func (l *RequestLog) Saw(value string) int {
	if value == "" {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.entries {
		if strings.Contains(e.raw, value) {
			n++
		}
	}
	return n
}

// Presented returns the distinct credentials presented in the checked
// header, in order of first appearance ("" for requests without one).
func (l *RequestLog) Presented() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if !slices.Contains(out, e.Presented) {
			out = append(out, e.Presented)
		}
	}
	return out
}

// isCredentialHeader reports whether a header may carry a credential, so its
// value belongs in Entry.Credentials.
func isCredentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	for _, s := range []string{"key", "token", "secret", "auth", "password"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func headerNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, http.CanonicalHeaderKey(k))
	}
	slices.Sort(names)
	return names
}

// rpcMethod names the JSON-RPC message in body, for reading a log; it never
// fails, because the log must record whatever arrived.
func rpcMethod(body []byte) string {
	var msg struct {
		Method string          `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &msg) != nil {
		return ""
	}
	if msg.Method == "" && (msg.Result != nil || msg.Error != nil) {
		return "response"
	}
	return msg.Method
}
