package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/serve"
)

// CookieName is the session cookie's name.
const CookieName = "mediator_ui"

// Session lifetimes: a session ends SessionIdle after its last request,
// and SessionMax after its login in any case.
const (
	SessionIdle = 8 * time.Hour
	SessionMax  = 7 * 24 * time.Hour
)

// maxSessions bounds the sessions held; past it the least recently used
// goes.
const maxSessions = 4096

// Sessions holds the logged-in browsers in memory: a restart of the
// daemon logs everyone out. The browser's cookie holds a random id; only
// its SHA-256 is kept here, beside the name and hash of the token it
// logged in with (never the token).
type Sessions struct {
	mu sync.Mutex
	m  map[string]*session
	// tokens are the api_tokens of the latest New: an event stream that
	// began under an older config checks its session against them.
	tokens []serve.Token
	// now is time.Now; tests move it.
	now func() time.Time
}

// NewSessions returns an empty session store.
func NewSessions() *Sessions {
	return &Sessions{m: map[string]*session{}, now: time.Now}
}

type session struct {
	tokenName, tokenSHA256 string
	csrf                   string
	created, seen          time.Time
	// nonces are the resolve confirmations shown and not yet used: each
	// is taken once.
	nonces map[string]time.Time
}

// Session is the logged-in user of a request: the token it logged in
// with, as the config has it now.
type Session struct {
	// Name is the token's name.
	Name string
	// CSRF is the token each form of the session sends back.
	CSRF  string
	token *serve.Token
	key   string
}

// Allows reports whether the session's token reaches workflow.
func (s *Session) Allows(workflow string) bool { return s.token.AllowsWorkflow(workflow) }

// Scope is the token's workflow globs.
func (s *Session) Scope() []string { return s.token.Workflows }

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func keyOf(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// create starts a session for t and returns the cookie's value.
func (ss *Sessions) create(t *serve.Token) string {
	id := randomID()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.evict(now)
	}
	ss.m[keyOf(id)] = &session{tokenName: t.Name, tokenSHA256: t.SHA256, csrf: randomID(), created: now, seen: now, nonces: map[string]time.Time{}}
	return id
}

// evict drops the expired sessions, then the least recently used one if
// still full. Called with mu held.
func (ss *Sessions) evict(now time.Time) {
	var oldest string
	for k, s := range ss.m {
		if s.expired(now) {
			delete(ss.m, k)
			continue
		}
		if oldest == "" || s.seen.Before(ss.m[oldest].seen) {
			oldest = k
		}
	}
	if len(ss.m) >= maxSessions && oldest != "" {
		delete(ss.m, oldest)
	}
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.seen) > SessionIdle || now.Sub(s.created) > SessionMax
}

// lookup finds the session of a cookie's value whose token is still one
// of tokens (by name and hash: a reload that removed or replaced the
// token ends it), and marks it used.
func (ss *Sessions) lookup(cookie string, tokens []serve.Token) *Session {
	if cookie == "" {
		return nil
	}
	key := keyOf(cookie)
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[key]
	if s == nil {
		return nil
	}
	if s.expired(now) {
		delete(ss.m, key)
		return nil
	}
	for i := range tokens {
		if tokens[i].Name == s.tokenName && strings.EqualFold(tokens[i].SHA256, s.tokenSHA256) {
			s.seen = now
			return &Session{Name: s.tokenName, CSRF: s.csrf, token: &tokens[i], key: key}
		}
	}
	delete(ss.m, key)
	return nil
}

// setTokens records the config's current tokens.
func (ss *Sessions) setTokens(tokens []serve.Token) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.tokens = slices.Clone(tokens)
}

// refresh checks that s is still a session of one of the current tokens
// (not ended, expired, logged out, or its token removed by a reload) and
// returns it with the token's current scope; nil when it is not. A long
// event stream calls it before each thing it sends. It does not count as
// a use of the session.
func (ss *Sessions) refresh(s *Session) *Session {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.m[s.key]
	if st == nil || st.expired(now) {
		return nil
	}
	for i := range ss.tokens {
		if ss.tokens[i].Name == st.tokenName && strings.EqualFold(ss.tokens[i].SHA256, st.tokenSHA256) {
			return &Session{Name: st.tokenName, CSRF: st.csrf, token: &ss.tokens[i], key: s.key}
		}
	}
	return nil
}

// end forgets a session.
func (ss *Sessions) end(s *Session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.key)
}

// nonceLife bounds how long a confirmation page's nonce stays usable.
const nonceLife = 30 * time.Minute

// newNonce records a one-time nonce for a confirmation form.
func (ss *Sessions) newNonce(s *Session) string {
	n := randomID()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st := ss.m[s.key]; st != nil {
		for k, at := range st.nonces {
			if now.Sub(at) > nonceLife {
				delete(st.nonces, k)
			}
		}
		st.nonces[n] = now
	}
	return n
}

// takeNonce uses a nonce up: true the first time only.
func (ss *Sessions) takeNonce(s *Session, n string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.m[s.key]
	if st == nil {
		return false
	}
	at, ok := st.nonces[n]
	delete(st.nonces, n)
	return ok && ss.now().Sub(at) <= nonceLife
}

// session returns the request's session, or nil.
func (u *UI) session(r *http.Request) *Session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	return u.sessions.lookup(c.Value, u.tokens)
}

// authed serves h to a request with a valid session; any other is sent
// to the login page (303), with the page it asked for to come back to.
func (u *UI) authed(h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := u.session(r)
		if s == nil {
			to := Prefix + "/login"
			if r.Method == http.MethodGet && r.URL.Path != Prefix+"/login" {
				to += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		h(w, r, s)
	})
}

// setCookie sets the session cookie: HttpOnly, SameSite=Strict, for
// /ui only, Secure when the browser came over TLS.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: scheme(r) == "https", SameSite: http.SameSiteStrictMode,
	})
}
