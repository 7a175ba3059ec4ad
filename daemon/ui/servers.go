package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The Servers page: each server's state as /readyz reports it (the
// orchestrator's registry), whether it runs sandboxed, its tools with
// their pin state, and the tool changes awaiting acceptance, shown as
// `mediator tools diff` shows them and never accepted here. Servers are
// not workflows: every session sees them all. Every text goes through the
// redactor.

// serversView is the data of templates/servers.html.
type serversView struct {
	Servers []serverView
	// NoOrchestrator says the daemon has no servers to report (yet).
	NoOrchestrator bool
}

// serverView is one server.
type serverView struct {
	Name, Transport, Endpoint string
	// State is the connector's (ready, failed, auth-required, idle,
	// connecting, closed); Hint says what to do about it.
	State, Hint string
	Since       time.Time
	// Error says why the server is not ready; ToolsError why its tool
	// list is unusable although connected; ListError why listing it for
	// this page failed.
	Error, ToolsError, ListError string
	ServerName, ServerVersion    string
	ProtocolVersion              string
	// Sandbox is "sandboxed", "not sandboxed (...)" or "" for a server
	// that is not a process of the daemon's.
	Sandbox, SandboxDetail, SandboxWarning string
	// Tools are listed only for a ready server (Listed).
	Tools     []toolView
	Listed    bool
	ToolCount int
	// Pending counts the tools refused until accepted; ReviewURL shows
	// their diff.
	Pending   int
	ReviewURL string
	AnchorID  string
}

// toolView is one tool of a server.
type toolView struct {
	Name, Title, Description string
	// Pin is pinned, new or changed (the last two refused until accepted).
	Pin     string
	Allowed bool
}

// sandboxLabel is how a server runs: confined, unconfined, or "" for a
// server that is not a process of the daemon's (remote servers).
func sandboxLabel(sb connectors.SandboxState) string {
	switch {
	case sb.Mode == "":
		return ""
	case sb.Confined:
		return "sandboxed"
	case sb.Mode == "off":
		return "not sandboxed (sandbox: off)"
	default:
		return "not sandboxed (" + sb.Mode + ")"
	}
}

// stateHint says what a state asks of the user, "" when nothing.
func stateHint(st orchestrator.ServerStatus) string {
	switch st.State {
	case connectors.StateAuthRequired:
		return fmt.Sprintf("Its login is missing or expired: run `mediator auth login %s` on the daemon's machine. The steps that call it fail with the auth error; the other servers keep working.", st.Name)
	case connectors.StateFailed:
		return "The steps that call it fail; the daemon connects again at the next call."
	case connectors.StateIdle:
		return "Not connected yet: the daemon connects at the first call."
	}
	return ""
}

// serversData gathers the page's data: the servers in name order, with
// the tools of the ready ones (listed from their session's catalogue; a
// server that is not ready is not connected to by a page view).
func (u *UI) serversData(ctx context.Context) serversView {
	var o *orchestrator.Orchestrator
	if u.opts.Orchestrator != nil {
		o = u.opts.Orchestrator()
	}
	if o == nil {
		return serversView{NoOrchestrator: true}
	}
	var v serversView
	for _, st := range o.Servers() {
		sv := serverView{Name: st.Name, Transport: st.Transport, Endpoint: u.redact(st.Endpoint), State: string(st.State),
			Hint: u.redact(stateHint(st)), Since: st.Since, ToolCount: st.Tools, ProtocolVersion: st.ProtocolVersion,
			Sandbox: sandboxLabel(st.Sandbox), SandboxDetail: st.Sandbox.Detail, SandboxWarning: u.redact(st.Sandbox.Warning),
			AnchorID: "server-" + st.Name, ReviewURL: Prefix + "/servers/" + url.PathEscape(st.Name) + "/review"}
		if st.Err != nil {
			sv.Error = u.redact(st.Err.Error())
		}
		if st.ToolsErr != nil {
			sv.ToolsError = u.redact(st.ToolsErr.Error())
		}
		if st.ServerInfo != nil {
			sv.ServerName, sv.ServerVersion = st.ServerInfo.Name, st.ServerInfo.Version
		}
		if st.State == connectors.StateReady && sv.ToolsError == "" {
			tools, err := o.Tools(ctx, st.Name)
			if err != nil {
				sv.ListError = u.redact(err.Error())
			} else {
				sv.Listed = true
			}
			for _, t := range tools {
				tv := toolView{Name: t.Name, Pin: t.Pin, Allowed: t.Allowed}
				if t.Tool != nil {
					tv.Title = u.redact(t.Tool.Title)
					tv.Description = u.redact(firstLine(t.Tool.Description))
				}
				if t.Pin == orchestrator.PinNew || t.Pin == orchestrator.PinChanged {
					sv.Pending++
				}
				sv.Tools = append(sv.Tools, tv)
			}
		}
		v.Servers = append(v.Servers, sv)
	}
	return v
}

func (u *UI) serversPage(w http.ResponseWriter, r *http.Request, s *Session) {
	u.render(w, r, s, http.StatusOK, "servers.html", "Servers", u.serversData(r.Context()))
}

// reviewView is the data of templates/review.html: a server's tool
// changes awaiting acceptance.
type reviewView struct {
	Server, ServersURL string
	Changes            []changeView
	Digest             string
	// Accept is the command that accepts exactly these changes; the page
	// never does.
	Accept string
	// Problem says why the tools could not be reviewed.
	Problem string
}

// changeView is one tool's change.
type changeView struct {
	Tool, Change string
	// Diff is the change as `mediator tools diff` prints it.
	Diff string
}

// reviewTimeout bounds the listing a review makes.
const reviewTimeout = 30 * time.Second

// reviewData lists the server's tools afresh and compares them with the
// pins (orchestrator.ReviewTools, what `mediator tools diff` does): it
// changes no pin.
func (u *UI) reviewData(ctx context.Context, server string) (reviewView, bool) {
	v := reviewView{Server: server, ServersURL: Prefix + "/servers#server-" + server}
	var o *orchestrator.Orchestrator
	if u.opts.Orchestrator != nil {
		o = u.opts.Orchestrator()
	}
	if o == nil {
		v.Problem = "The daemon has no servers to review."
		return v, true
	}
	known := false
	for _, st := range o.Servers() {
		known = known || st.Name == server
	}
	if !known {
		return v, false
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	r, err := o.ReviewTools(ctx, server, "")
	if err != nil {
		v.Problem = u.redact("The tools could not be listed for review: " + err.Error())
		return v, true
	}
	v.Digest = r.Digest
	for _, c := range r.Changes {
		v.Changes = append(v.Changes, changeView{Tool: c.Tool, Change: c.Change, Diff: u.redact(c.Unified(server))})
	}
	if len(v.Changes) > 0 {
		v.Accept = "mediator tools accept " + server + " --digest " + r.Digest
	}
	return v, true
}

func (u *UI) reviewPage(w http.ResponseWriter, r *http.Request, s *Session) {
	name := r.PathValue("name")
	v, ok := u.reviewData(r.Context(), name)
	if !ok {
		u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("There is no server %q in the daemon's config.", name))
		return
	}
	u.render(w, r, s, http.StatusOK, "review.html", "Tool changes of "+name, v)
}
