// Package ui is the daemon's web page, served at /ui by `mediator
// daemon` beside the API: the runs list, a run's page, the servers and
// the audit trail. It is read-only but for the resolve action on a
// blocked run, and it sees what the API token it was opened with sees.
//
// Security (docs/ui.md has the reasoning): the login page takes an API
// token, checked as the API checks it (serve.MatchToken); the browser
// then holds only an opaque session id in an HttpOnly, SameSite=Strict
// cookie scoped to /ui. Every page applies the token's workflow scope,
// every POST checks the session's CSRF token (constant time) and the
// request's Origin, and every answer carries a strict
// Content-Security-Policy (no inline script or style), X-Frame-Options
// DENY, nosniff and no-referrer. A request without a valid session is
// sent to the login page (303), never given data.
//
// Adding a page: write PAGE.go with a handler
//
//	func (u *UI) page(w http.ResponseWriter, r *http.Request, s *Session)
//
// that gathers its data (apply s.Allows to every workflow it shows) and
// calls u.render(w, r, s, http.StatusOK, "PAGE.html", title, data); write
// templates/PAGE.html defining "main" (it is rendered inside
// templates/layout.html; shared pieces live in templates/parts.html);
// add its route to (*UI).routes in ui.go, wrapped in u.authed, and its
// link to navItems when it belongs in the navigation. Styles go in
// static/ui.css (classes only: the policy forbids style attributes),
// behaviour in a vendored file under static/, loaded by the layout. A
// POST handler starts with u.checkPost.
package ui
