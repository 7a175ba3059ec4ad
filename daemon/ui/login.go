package ui

import (
	"net/http"
	"strings"
)

// loginPage is the data of templates/login.html.
type loginPage struct {
	Next    string
	Problem string
	// NoTokens says the daemon has no api_tokens, so nobody can log in.
	NoTokens bool
}

// safeNext keeps a post-login destination only when it is a page of the
// UI, so that the login cannot send the browser elsewhere.
func safeNext(next string) string {
	if next == Prefix || strings.HasPrefix(next, Prefix+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return Prefix + "/runs"
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if u.session(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.render(w, r, nil, http.StatusOK, "login.html", "Log in", loginPage{Next: safeNext(r.URL.Query().Get("next")), NoTokens: len(u.tokens) == 0})
}

// login takes an API token: the one the API would take (serve.MatchToken
// over the same api_tokens) starts a session. The token itself goes no
// further than this request.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if !u.checkPost(w, r, nil) {
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	t := u.match(token)
	if token == "" || t == nil {
		u.log.Warn("ui: login refused: not one of the daemon's api_tokens", "remote", r.RemoteAddr)
		msg := "That is not one of the daemon's API tokens. Paste a token printed by `mediator daemon token create NAME`."
		if token == "" {
			msg = "Paste an API token to log in."
		}
		u.render(w, r, nil, http.StatusUnauthorized, "login.html", "Log in", loginPage{Next: next, Problem: msg, NoTokens: len(u.tokens) == 0})
		return
	}
	if old := u.session(r); old != nil {
		u.sessions.end(old) // a new login replaces the browser's session
	}
	setCookie(w, r, u.sessions.create(t), int(SessionMax.Seconds()))
	u.log.Info("ui: logged in", "token", t.Name, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *Session) {
	if !u.checkPost(w, r, s) {
		return
	}
	u.sessions.end(s)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}
