package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// runView is the data of templates/run.html.
type runView struct {
	ID, Workflow, Status, URL string
	Error                     string
	Submitted, Started        time.Time
	Finished                  time.Time
	Duration                  string
	Resumes                   int
	Finally, FinallyError     string
	Steps                     []stepView
	Outputs                   string
	// Inputs are shown only with audit.include_values; InputNames
	// otherwise.
	Inputs     string
	InputNames []string
	Blocked    []blockedCall
	// Graph is the flow's SVG, coloured by step status.
	Graph template.HTML
	// Live is the stream that keeps the page current while the run is
	// not final.
	Live    string
	Notice  string
	CSRF    string
	Running bool
}

// stepView is one step of the run.
type stepView struct {
	Path, Server, Tool, Status string
	// Depth is the step's nesting (a group's or parallel branch's
	// children are one deeper).
	Depth int
	// Items counts a for_each step's items by status.
	Items    []itemCount
	ItemsAll int
	Started  time.Time
	Duration string
	// Attempts is the most any of the step's calls took.
	Attempts int
	Error    string
	Class    string
}

type itemCount struct {
	Status string
	N      int
}

// blockedCall is an interrupted unsafe call a blocked run waits on.
type blockedCall struct {
	Path, Server, Tool string
}

// runOf loads the run of the path's id when the session reaches its
// workflow; otherwise it answers 404 itself (a run outside the scope is
// not told apart from one that does not exist).
func (u *UI) runOf(w http.ResponseWriter, r *http.Request, s *Session) (*daemon.RunInfo, bool) {
	id := r.PathValue("id")
	wf, err := u.opts.Runs.Workflow(r.Context(), id)
	if err == nil && !s.Allows(wf) {
		err = &daemon.Error{Code: daemon.CodeNotFound}
	}
	var info *daemon.RunInfo
	if err == nil {
		info, err = u.opts.Runs.Get(r.Context(), id)
	}
	if err != nil {
		var de *daemon.Error
		if errors.As(err, &de) && de.Code == daemon.CodeNotFound {
			u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("There is no run %q that your token (%s) can see.", id, s.Name))
			return nil, false
		}
		u.internal(w, r, s, err)
		return nil, false
	}
	return info, true
}

// final reports whether a run's status will not change without an action.
func final(status string) bool {
	return status != daemon.StatusQueued && status != workflows.RunRunning
}

// view builds the run's page data.
func (u *UI) view(info *daemon.RunInfo, s *Session) runView {
	v := runView{ID: info.ID, Workflow: info.Workflow, Status: info.Status, URL: Prefix + "/runs/" + url.PathEscape(info.ID),
		Error: u.runError(info), Submitted: info.SubmittedAt, Started: info.StartedAt, Finished: info.FinishedAt,
		Resumes: info.Resumes, Finally: info.Finally, FinallyError: u.finallyError(info.FinallyError), CSRF: s.CSRF,
		Running: info.Status == workflows.RunRunning}
	end := info.FinishedAt
	if end.IsZero() && info.Status == workflows.RunRunning {
		end = time.Now()
	}
	v.Duration = duration(info.StartedAt, end)
	if len(info.Outputs) > 0 {
		v.Outputs = u.redact(prettyJSON(u.redactValue(info.Outputs)))
	}
	if u.opts.IncludeValues {
		if len(info.Inputs) > 0 {
			v.Inputs = u.redact(prettyJSON(u.redactValue(info.Inputs)))
		}
	} else {
		for k := range info.Inputs {
			v.InputNames = append(v.InputNames, k)
		}
		sort.Strings(v.InputNames)
	}
	for _, c := range info.Blocked {
		v.Blocked = append(v.Blocked, blockedCall{Path: c.Path, Server: c.Server, Tool: c.Tool})
	}
	var fl *flow.Flow
	if w := u.opts.Runs.Catalog().Get(info.Workflow); w != nil && w.Valid() {
		fl = w.Flow
	}
	v.Steps = u.steps(info, fl)
	if fl != nil {
		v.Graph = u.graph(fl, v.Steps)
	}
	if !final(info.Status) {
		v.Live = v.URL + "/live"
	}
	return v
}

// steps lists the run's steps: the flow's, in order, then any the run
// reported that the flow (as the catalog has it now) does not name.
func (u *UI) steps(info *daemon.RunInfo, fl *flow.Flow) []stepView {
	var order []stepView
	index := map[string]int{}
	add := func(sv stepView) {
		index[sv.Path] = len(order)
		order = append(order, sv)
	}
	if fl != nil {
		for _, n := range flow.BuildGraph(fl).Nodes {
			if n.Step == nil || n.Flow != "" {
				continue
			}
			add(stepView{Path: n.ID, Server: n.Server, Tool: n.Tool, Depth: strings.Count(n.ID, "/")})
		}
	}
	// Step states by runtime path: a step's own (batch/upload), or an
	// instance's: an item of a for_each step (remind[3]), or a step in an
	// item of a for_each group (batch[2]/upload). Instances count as the
	// step's items; a for_each step's own instance in a group's item
	// (batch[2]/remind, with batch[2]/remind[0]...) is counted by its
	// items instead.
	paths := slices.Sorted(maps.Keys(info.Steps))
	items := map[string]map[string]int{}
	for _, p := range paths {
		st, sp := info.Steps[p], flow.StaticPath(p)
		if sp == p {
			if _, ok := index[p]; !ok {
				add(stepView{Path: p, Depth: strings.Count(p, "/")})
			}
			order[index[p]].Status = st
			continue
		}
		if _, forEach := info.Steps[p+"[0]"]; forEach {
			continue
		}
		if items[sp] == nil {
			items[sp] = map[string]int{}
		}
		items[sp][st]++
	}
	for _, sp := range slices.Sorted(maps.Keys(items)) {
		counts := items[sp]
		i, ok := index[sp]
		if !ok {
			add(stepView{Path: sp, Depth: strings.Count(sp, "/")})
			i = index[sp]
		}
		for _, st := range slices.Sorted(maps.Keys(counts)) {
			order[i].Items = append(order[i].Items, itemCount{Status: st, N: counts[st]})
			order[i].ItemsAll += counts[st]
		}
		if order[i].Status == "" {
			order[i].Status = summary(counts)
		}
	}
	// Calls: attempts, the error of the last failed one, and times.
	type span struct{ from, to time.Time }
	spans := map[string]*span{}
	for _, c := range info.Calls {
		i, ok := index[c.Step]
		if !ok {
			add(stepView{Path: c.Step, Server: c.Server, Tool: c.Tool, Depth: strings.Count(c.Step, "/")})
			i = index[c.Step]
		}
		sv := &order[i]
		sv.Attempts = max(sv.Attempts, c.Attempt)
		if sv.Server == "" {
			sv.Server, sv.Tool = c.Server, c.Tool
		}
		if c.Error != "" && sv.Error == "" {
			sv.Error, sv.Class = u.callError(c.ErrorClass, c.Error), c.ErrorClass
		}
		if !c.StartedAt.IsZero() {
			sp := spans[c.Step]
			if sp == nil {
				sp = &span{from: c.StartedAt}
				spans[c.Step] = sp
			}
			if c.StartedAt.Before(sp.from) {
				sp.from = c.StartedAt
			}
			if c.FinishedAt.After(sp.to) {
				sp.to = c.FinishedAt
			}
		}
		if sv.Status == "" {
			sv.Status = c.State
		}
	}
	for p, sp := range spans {
		sv := &order[index[p]]
		sv.Started = sp.from
		sv.Duration = duration(sp.from, sp.to)
	}
	for i := range order {
		if order[i].Status == "" {
			order[i].Status = "pending"
			if final(info.Status) {
				order[i].Status = "not-run"
			}
		}
	}
	return order
}

// summary is the state of a step known only by its instances' states.
func summary(counts map[string]int) string {
	for _, st := range []string{workflows.RunRunning, workflows.RunFailed, workflows.RunCancelled, workflows.RunSucceeded} {
		if counts[st] > 0 {
			return st
		}
	}
	if rest := slices.Sorted(maps.Keys(counts)); len(rest) > 0 {
		return rest[0]
	}
	return ""
}

// graph draws the flow coloured by the steps' statuses, with for_each
// item counts and durations (flow.WriteSVG escapes every text, so its
// output is HTML as it is); "" when drawing fails.
func (u *UI) graph(fl *flow.Flow, steps []stepView) template.HTML {
	opts := flow.SVGOptions{Status: map[string]string{}, Items: map[string]flow.ItemCounts{}, Detail: map[string]string{}}
	for _, s := range steps {
		opts.Status[s.Path] = s.Status
		if s.ItemsAll > 0 {
			c := flow.ItemCounts{}
			for _, ic := range s.Items {
				c[ic.Status] = ic.N
			}
			opts.Items[s.Path] = c
		}
		if s.Duration != "" {
			opts.Detail[s.Path] = s.Duration
		}
	}
	var b bytes.Buffer
	if err := flow.BuildGraph(fl).WriteSVG(&b, opts); err != nil {
		u.log.Error("ui: drawing a flow graph failed", "error", u.redact(err.Error()))
		return ""
	}
	return template.HTML(b.String()) // #nosec G203 -- WriteSVG escapes every text it writes
}

func (u *UI) runPage(w http.ResponseWriter, r *http.Request, s *Session) {
	info, ok := u.runOf(w, r, s)
	if !ok {
		return
	}
	v := u.view(info, s)
	switch r.URL.Query().Get("resolved") {
	case daemon.ActionRerun:
		v.Notice = "The blocked calls will be called again; the run resumes."
	case daemon.ActionMarkDone:
		v.Notice = "The blocked calls are marked done; the run resumes."
	}
	u.render(w, r, s, http.StatusOK, "run.html", "Run "+info.ID, v)
}

// liveRender is the least time between two renders of a run's stream, so
// that a burst of events is rendered once.
const liveRender = 250 * time.Millisecond

// runLive streams the run's details as "html" events while it runs,
// rendered by the page's own template, and ends with "end" once the
// run's status is final.
func (u *UI) runLive(w http.ResponseWriter, r *http.Request, s *Session) {
	info, ok := u.runOf(w, r, s)
	if !ok {
		return
	}
	events, stop, err := u.opts.Runs.Subscribe(r.Context(), info.ID, 0)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	defer stop()
	sse := startSSE(w)
	last, lastStatus := "", ""
	render := func(ctx context.Context) (bool, error) {
		if s = u.sessions.refresh(s); s == nil || !s.Allows(info.Workflow) {
			return true, sse.send("end", sessionEnded)
		}
		info, err := u.opts.Runs.Get(ctx, info.ID)
		if err != nil {
			return true, sse.send("end", liveMessage{Announce: "The daemon stopped answering; reload the page."})
		}
		var b bytes.Buffer
		if err := u.exec(&b, "run.html", "detail", u.view(info, s)); err != nil {
			return true, err
		}
		if html := b.String(); html != last {
			msg := liveMessage{HTML: html}
			if lastStatus != "" && info.Status != lastStatus {
				msg.Announce = fmt.Sprintf("The run is now %s.", info.Status)
			}
			if err := sse.send("html", msg); err != nil {
				return true, err
			}
			last, lastStatus = html, info.Status
		}
		if final(info.Status) {
			return true, sse.send("end", liveMessage{})
		}
		return false, nil
	}
	if done, _ := render(r.Context()); done {
		return
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-u.opts.Stopping:
			_ = sse.send("end", daemonStopping)
			return
		case <-keep.C:
			if sse.comment() != nil {
				return
			}
			continue
		case _, open := <-events:
			if !open {
				// Finished (or this subscriber fell behind): one last look.
				_, _ = render(r.Context())
				return
			}
		}
		// Let a burst of events pass, then render once.
		t := time.NewTimer(liveRender)
	drain:
		for {
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-u.opts.Stopping:
				t.Stop()
				_ = sse.send("end", daemonStopping)
				return
			case _, open := <-events:
				if !open {
					break drain
				}
			case <-t.C:
				break drain
			}
		}
		t.Stop()
		if done, err := render(r.Context()); done || err != nil {
			return
		}
	}
}

// resolveView is the data of templates/resolve.html: the confirmation.
type resolveView struct {
	ID, URL, Action, Status string
	Calls                   []blockedCall
	Nonce, CSRF             string
}

// resolveAction checks the action a resolve names.
func resolveAction(a string) bool { return a == daemon.ActionRerun || a == daemon.ActionMarkDone }

// resolveConfirm asks before settling a blocked run's calls: it says what
// the action does and posts it with a one-time nonce.
func (u *UI) resolveConfirm(w http.ResponseWriter, r *http.Request, s *Session) {
	info, ok := u.runOf(w, r, s)
	if !ok {
		return
	}
	action := r.URL.Query().Get("action")
	if !resolveAction(action) {
		u.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("Resolve action %q: choose %s (call the blocked calls again) or %s (they took effect).", action, daemon.ActionRerun, daemon.ActionMarkDone))
		return
	}
	if info.Status != workflows.RunBlocked || len(info.Blocked) == 0 {
		u.notBlocked(w, r, s, info)
		return
	}
	v := resolveView{ID: info.ID, URL: Prefix + "/runs/" + url.PathEscape(info.ID), Action: action, Status: info.Status,
		Nonce: u.sessions.newNonce(s), CSRF: s.CSRF}
	for _, c := range info.Blocked {
		v.Calls = append(v.Calls, blockedCall{Path: c.Path, Server: c.Server, Tool: c.Tool})
	}
	u.render(w, r, s, http.StatusOK, "resolve.html", "Resolve run "+info.ID, v)
}

// notBlocked answers a resolve of a run that has nothing to resolve (409).
func (u *UI) notBlocked(w http.ResponseWriter, r *http.Request, s *Session, info *daemon.RunInfo) {
	link := Prefix + "/runs/" + url.PathEscape(info.ID)
	u.render(w, r, s, http.StatusConflict, "error.html", "Nothing to resolve", errorPage{Status: http.StatusConflict,
		Message: fmt.Sprintf("Run %s is %s, not blocked: there is nothing to resolve (it may have been resolved already). Nothing was done.", info.ID, info.Status),
		Back:    link, BackLabel: "Back to the run"})
}

// resolve settles the blocked run's calls checked on the confirmation,
// once: the confirmation's nonce is taken before the action, and a run no
// longer blocked is refused.
func (u *UI) resolve(w http.ResponseWriter, r *http.Request, s *Session) {
	if !u.checkPost(w, r, s) {
		return
	}
	info, ok := u.runOf(w, r, s)
	if !ok {
		return
	}
	action := r.PostForm.Get("action")
	if !resolveAction(action) {
		u.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("Resolve action %q: choose %s or %s.", action, daemon.ActionRerun, daemon.ActionMarkDone))
		return
	}
	calls := r.PostForm["call"]
	if len(calls) == 0 {
		u.fail(w, r, s, http.StatusBadRequest, "Check at least one call to settle; nothing was done. Go back to the confirmation to choose.")
		return
	}
	u.resolveMu.Lock()
	defer u.resolveMu.Unlock()
	if !u.sessions.takeNonce(s, r.PostForm.Get("nonce")) {
		link := Prefix + "/runs/" + url.PathEscape(info.ID)
		u.render(w, r, s, http.StatusConflict, "error.html", "Already sent", errorPage{Status: http.StatusConflict,
			Message: "This confirmation was used already (or is out of date): the action is taken once. Nothing more was done; the run's page shows where it is.",
			Back:    link, BackLabel: "Back to the run"})
		return
	}
	if _, err := u.opts.Runs.Resolve(r.Context(), info.ID, action, calls); err != nil {
		var de *daemon.Error
		if errors.As(err, &de) && de.Code == daemon.CodeConflict {
			if now, gerr := u.opts.Runs.Get(r.Context(), info.ID); gerr == nil {
				info = now
			}
			u.notBlocked(w, r, s, info)
			return
		}
		if errors.As(err, &de) {
			status := http.StatusConflict
			if de.Code == daemon.CodeBadRequest {
				status = http.StatusBadRequest
			}
			u.fail(w, r, s, status, u.redact(de.Message))
			return
		}
		u.internal(w, r, s, err)
		return
	}
	u.log.Info("ui: run resolved", "run", info.ID, "action", action, "token", s.Name)
	http.Redirect(w, r, Prefix+"/runs/"+url.PathEscape(info.ID)+"?resolved="+action, http.StatusSeeOther)
}
