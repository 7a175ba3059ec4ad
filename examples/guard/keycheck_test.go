package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const key = "guard-canary-key"

// echo answers 202 with the body it received, proving the body survives logging.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
})

func do(t *testing.T, h http.Handler, header http.Header, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/mcp?x=1", strings.NewReader(body))
	for k, vs := range header {
		r.Header[http.CanonicalHeaderKey(k)] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestBearerPolicy(t *testing.T) {
	log := NewRequestLog(nil)
	h := Require(echo, Policy{Realm: "calendar", Bearer: true, Key: key}, log)

	if w := do(t, h, http.Header{"Authorization": {"bearer " + key}}, "hello"); w.Code != http.StatusAccepted || w.Body.String() != "hello" {
		t.Errorf("right token: status %d body %q, want 202 and the body passed through", w.Code, w.Body)
	}
	// In a fixed order: Presented lists values in the order they arrived.
	for _, c := range []struct {
		name string
		hdr  http.Header
	}{
		{"none", http.Header{}},
		{"wrong", http.Header{"Authorization": {"Bearer nope"}}},
		{"basic", http.Header{"Authorization": {"Basic " + key}}},
		{"api-key hdr", http.Header{"X-API-Key": {key}}},
	} {
		name := c.name
		w := do(t, h, c.hdr, "")
		if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="calendar"`) {
			t.Errorf("%s: status %d, challenge %q; want 401 with a Bearer challenge", name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	es := log.Entries()
	if len(es) != 5 || !es[0].Authorized || es[0].Status != http.StatusAccepted || es[0].Path != "/mcp" {
		t.Fatalf("entries = %+v, want 5 with the first authorized and answered 202", es)
	}
	if got := log.Presented(); len(got) != 3 || got[0] != key || got[1] != "" || got[2] != "nope" {
		t.Errorf("presented = %q, want [key, \"\", nope]", got)
	}
	// The key sent in the wrong header still counts as seen: the log
	// records what reached the server, not what it accepted.
	if n := log.Saw(key); n != 3 {
		t.Errorf("Saw(key) = %d, want 3 (bearer, Basic and X-API-Key)", n)
	}
}

func TestSawLooksEverywhere(t *testing.T) {
	log := NewRequestLog(nil)
	h := Require(echo, Policy{Realm: "weather", Header: "X-API-Key", Key: key}, log)
	do(t, h, http.Header{"X-API-Key": {key}}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"notes":"other-secret in the body"}}`)
	do(t, h, http.Header{"X-API-Key": {key}, "X-Trace": {"other-secret"}}, "")
	if n := log.Saw("other-secret"); n != 2 {
		t.Errorf("Saw = %d, want 2 (one in a body, one in a header)", n)
	}
	if n := log.Saw(""); n != 0 {
		t.Errorf("Saw(\"\") = %d, want 0", n)
	}
	if rpc := log.Entries()[0].RPC; rpc != "tools/call" {
		t.Errorf("RPC = %q, want tools/call", rpc)
	}
	e := log.Entries()[1]
	if e.Credentials["X-Api-Key"] != key || len(e.HeaderNames) != 2 {
		t.Errorf("entry = %+v, want the key recorded and two header names", e)
	}
}

func TestEmptyKeyAcceptsNothing(t *testing.T) {
	h := Require(echo, Policy{Realm: "weather", Header: "X-API-Key"}, NewRequestLog(nil))
	if w := do(t, h, http.Header{}, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("empty key, no header: status %d, want 401", w.Code)
	}
}

func TestStartAndShutdown(t *testing.T) {
	log := NewRequestLog(nil)
	s, err := Start("127.0.0.1:0", "/mcp", Require(echo, Policy{Realm: "weather", Header: "X-API-Key", Key: key}, log))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL, strings.NewReader("ping"))
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || string(b) != "ping" {
		t.Errorf("status %d body %q, want 202 ping", resp.StatusCode, b)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Post(s.URL, "text/plain", nil); err == nil {
		t.Error("server still answers after Shutdown")
	}
	if log.Len() != 1 {
		t.Errorf("log has %d entries, want 1", log.Len())
	}
}
