package ui

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// contentSecurityPolicy allows the page's own files and nothing else: no
// inline script or style (style attributes included), no frames, forms
// posting only to the daemon.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders sets what every answer of the page carries.
// Referrer-Policy is same-origin rather than no-referrer: with
// no-referrer a browser sends "Origin: null" on a form's POST, and the
// Origin check needs the real one.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set("Cache-Control", "no-store")
}

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// checkPost refuses a POST that does not come from the page itself: its
// Origin (or, without one, its Referer) must be the daemon's own origin
// or one of AllowedOrigins, and, with a session, its csrf field must be
// the session's CSRF token (compared in constant time). It answers 403
// itself and returns false.
func (u *UI) checkPost(w http.ResponseWriter, r *http.Request, s *Session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, s, http.StatusBadRequest, "The form could not be read: it is malformed or over 64 KiB.")
		return false
	}
	if !u.sameOrigin(r) {
		u.log.Warn("ui: refused a POST from another origin", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		u.fail(w, r, s, http.StatusForbidden, "This form was not sent from the daemon's own page (its Origin is not the daemon's); nothing was done.")
		return false
	}
	if s == nil {
		return true
	}
	got := r.PostForm.Get("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		u.log.Warn("ui: refused a POST without the session's CSRF token", "path", r.URL.Path, "session", s.Name)
		u.fail(w, r, s, http.StatusForbidden, "This form's security token is missing or out of date (open the page again and resend it); nothing was done.")
		return false
	}
	return true
}

// sameOrigin reports whether a request comes from a page of the daemon's
// own origin: Sec-Fetch-Site, when the browser sends it, must not be
// cross-site, and Origin (else the Referer's origin) must be the
// request's own or allowed. A request with neither is refused.
func (u *UI) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		ref, err := url.Parse(r.Referer())
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	own := scheme(r) + "://" + r.Host
	return strings.EqualFold(origin, own) || slices.ContainsFunc(u.opts.AllowedOrigins, func(a string) bool {
		return strings.EqualFold(strings.TrimSuffix(a, "/"), origin)
	})
}

// scheme is how the browser reached the daemon: https over TLS or
// through a proxy that says so.
func scheme(r *http.Request) string {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "https"
	}
	return "http"
}
