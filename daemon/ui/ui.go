package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

// Prefix is the path the page is served under.
const Prefix = "/ui"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures New. Runs and Sessions outlive a config reload; the
// rest is the config's.
type Options struct {
	Runs daemon.RunService
	// Tokens are the daemon's api_tokens: a token logs in when the API
	// would take it, and a session sees the workflows its token reaches.
	Tokens []serve.Token
	// Sessions holds the logged-in browsers; the daemon keeps one across
	// reloads (a reload that removes a token ends its sessions). Nil makes
	// one.
	Sessions *Sessions
	// Orchestrator is the servers' state, asked at each request; nil
	// shows none.
	Orchestrator func() *orchestrator.Orchestrator
	// Redactor masks known secrets in everything shown; asked at each
	// use.
	Redactor func() *credentials.Redactor
	// IncludeValues is audit.include_values: only then are a run's input
	// values and its calls' argument values shown (masked).
	IncludeValues bool
	// Stopping is closed when the daemon begins to stop: the event
	// streams then end, so that the HTTP server's shutdown need not wait
	// for them. Nil never closes.
	Stopping <-chan struct{}
	// AllowedOrigins are web origins (scheme://host[:port]) besides the
	// request's own from which a POST is taken (a proxy that rewrites
	// Host).
	AllowedOrigins []string
	Logger         *slog.Logger
}

// UI is the page's handler; New builds it.
type UI struct {
	opts     Options
	log      *slog.Logger
	match    func(token string) *serve.Token
	tokens   []serve.Token
	sessions *Sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// resolveMu makes a resolve's check and action one step, so that a
	// form sent twice resolves once.
	resolveMu sync.Mutex
}

// New checks opts and builds the page's handler, to be mounted at Prefix
// and Prefix+"/".
func New(opts Options) (*UI, error) {
	if opts.Runs == nil {
		return nil, errors.New("ui: no Runs")
	}
	match, err := serve.MatchToken(opts.Tokens)
	if err != nil {
		return nil, fmt.Errorf("ui: api_tokens: %w", err)
	}
	for i, o := range opts.AllowedOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return nil, fmt.Errorf("ui: allowed origins[%d]: %q is not scheme://host[:port]", i, o)
		}
	}
	u := &UI{opts: opts, log: opts.Logger, match: match, tokens: opts.Tokens, sessions: opts.Sessions}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.sessions == nil {
		u.sessions = NewSessions()
	}
	if u.pages, err = parsePages(); err != nil {
		return nil, err
	}
	u.mux = http.NewServeMux()
	u.routes()
	u.sessions.setTokens(opts.Tokens)
	return u, nil
}

// routes lists every path of the page. A page's handler is wrapped in
// u.authed, which sends a request without a valid session to the login
// page.
func (u *UI) routes() {
	m := u.mux
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", staticHandler(static)))
	m.HandleFunc("GET "+Prefix+"/login", u.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", u.login)
	m.Handle("POST "+Prefix+"/logout", u.authed(u.logout))

	m.Handle("GET "+Prefix+"/{$}", u.authed(func(w http.ResponseWriter, r *http.Request, _ *Session) {
		http.Redirect(w, r, Prefix+"/runs", http.StatusSeeOther)
	}))
	m.Handle("GET "+Prefix+"/runs", u.authed(u.runsPage))
	m.Handle("GET "+Prefix+"/runs/live", u.authed(u.runsLive))
	m.Handle("GET "+Prefix+"/runs/{id}", u.authed(u.runPage))
	m.Handle("GET "+Prefix+"/runs/{id}/live", u.authed(u.runLive))
	m.Handle("GET "+Prefix+"/runs/{id}/resolve", u.authed(u.resolveConfirm))
	m.Handle("POST "+Prefix+"/runs/{id}/resolve", u.authed(u.resolve))
	m.Handle("GET "+Prefix+"/servers", u.authed(u.serversPage))
	m.Handle("GET "+Prefix+"/servers/{name}/review", u.authed(u.reviewPage))
	m.Handle("GET "+Prefix+"/runs/{id}/audit", u.authed(u.auditPage))

	// Anything else under the prefix: the login page without a session,
	// else 404.
	m.Handle(Prefix+"/", u.authed(func(w http.ResponseWriter, r *http.Request, s *Session) {
		u.fail(w, r, s, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	}))
	m.Handle(Prefix, u.authed(func(w http.ResponseWriter, r *http.Request, _ *Session) {
		http.Redirect(w, r, Prefix+"/runs", http.StatusSeeOther)
	}))
}

// navItems are the navigation's links, in order.
var navItems = []struct{ Path, Label string }{
	{Prefix + "/runs", "Runs"},
	{Prefix + "/servers", "Servers"},
}

// ServeHTTP serves the page with its security headers.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	u.mux.ServeHTTP(w, r)
}

// parsePages parses each page's template with the layout and the shared
// parts.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || base == "parts.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", name)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// page is what the layout renders: the session's name and CSRF token,
// the navigation, and the page's own data as Main.
type page struct {
	Title   string
	Session *Session
	Nav     []navLink
	Main    any
}

type navLink struct {
	Path, Label string
	Current     bool
}

// render writes the page name (a file of templates/) inside the layout,
// with data as .Main. It renders to a buffer first, so that a template
// error is a clean 500.
func (u *UI) render(w http.ResponseWriter, r *http.Request, s *Session, status int, name, title string, data any) {
	p := page{Title: title, Session: s, Main: data}
	if s != nil {
		for _, n := range navItems {
			p.Nav = append(p.Nav, navLink{Path: n.Path, Label: n.Label, Current: r.URL.Path == n.Path || strings.HasPrefix(r.URL.Path, n.Path+"/")})
		}
	}
	var b bytes.Buffer
	if err := u.exec(&b, name, "layout", p); err != nil {
		u.log.Error("ui: rendering a page failed", "page", name, "error", u.redact(err.Error()))
		http.Error(w, "the page could not be rendered; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// exec runs the template called tmpl of page name's set into b.
func (u *UI) exec(b *bytes.Buffer, name, tmpl string, data any) error {
	t := u.pages[name]
	if t == nil {
		return fmt.Errorf("no template %s", name)
	}
	return t.ExecuteTemplate(b, tmpl, data)
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	Status  int
	Message string
	// Back is a link back to where the user came from, if any.
	Back, BackLabel string
}

// fail answers an error page with msg (shown as it is: it must hold no
// secret, so callers pass redacted text).
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *Session, status int, msg string) {
	u.render(w, r, s, status, "error.html", http.StatusText(status), errorPage{Status: status, Message: msg, Back: Prefix + "/runs", BackLabel: "Back to the runs"})
}

// redact masks known secrets in s.
func (u *UI) redact(s string) string {
	if u.opts.Redactor != nil {
		if red := u.opts.Redactor(); red != nil {
			return red.Redact(s)
		}
	}
	return s
}

// redactValue masks known secrets in a JSON value.
func (u *UI) redactValue(v any) any {
	if u.opts.Redactor != nil {
		if red := u.opts.Redactor(); red != nil {
			return red.RedactValue(v)
		}
	}
	return v
}

// staticHandler serves the vendored assets; they hold no data, so the
// login page can use them without a session.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
