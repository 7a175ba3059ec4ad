package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
)

// statuses are the run states the status filter offers.
var statuses = []string{
	daemon.StatusQueued, workflows.RunRunning, workflows.RunSucceeded, workflows.RunFailed,
	workflows.RunBlocked, daemon.StatusInterrupted, workflows.RunCancelled, workflows.RunTimedOut,
}

// sinces are the time filter's choices.
var sinces = []struct {
	Value, Label string
	Ago          time.Duration
}{
	{"", "Any time", 0},
	{"1h", "Last hour", time.Hour},
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour},
}

// runsPageSize is the runs a page of the list shows.
const runsPageSize = 25

// runsFilter is the list's query: ?workflow=&status=&since=&cursor=.
type runsFilter struct {
	Workflow, Status, Since, Cursor string
}

func (f runsFilter) query(cursor string) string {
	q := url.Values{}
	for k, v := range map[string]string{"workflow": f.Workflow, "status": f.Status, "since": f.Since, "cursor": cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// runsView is the data of templates/runs.html.
type runsView struct {
	Filter    runsFilter
	Workflows []string
	Statuses  []string
	Sinces    []option
	Rows      rowsData
	// Next is the next page's URL, First the first's when this is not
	// it; Live the event stream that keeps the first page current.
	Next, First, Live string
	Scope             []string
	Problem           string
}

type option struct {
	Value, Label string
	Selected     bool
}

// rowsData is the data of runs.html's "rows": the table's body.
type rowsData struct {
	Runs []runRow
	// Errors shows each run's error (audit.include_values).
	Errors bool
}

// runRow is one run in the list.
type runRow struct {
	ID, Workflow, Status, URL string
	Submitted, Started        time.Time
	Duration                  string
	Error                     string
}

// parseFilter reads and checks the list's query against the session's
// scope; problem says what was wrong with it.
func parseFilter(r *http.Request, s *Session) (f runsFilter, problem string) {
	q := r.URL.Query()
	f = runsFilter{Workflow: strings.TrimSpace(q.Get("workflow")), Status: q.Get("status"), Since: q.Get("since"), Cursor: q.Get("cursor")}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		problem = fmt.Sprintf("Status %q is not one of: %s. Showing every status.", f.Status, strings.Join(statuses, ", "))
		f.Status = ""
	}
	if f.Since != "" && !slices.ContainsFunc(sinces, func(o struct {
		Value, Label string
		Ago          time.Duration
	}) bool {
		return o.Value == f.Since
	}) {
		problem = fmt.Sprintf("Time %q is not one of the choices. Showing any time.", f.Since)
		f.Since = ""
	}
	if f.Workflow != "" && !s.Allows(f.Workflow) {
		problem = fmt.Sprintf("Workflow %q is outside your token's scope (%s). Showing every workflow you can see.", f.Workflow, strings.Join(s.Scope(), ", "))
		f.Workflow = ""
	}
	return f, problem
}

func sinceOf(v string, now time.Time) time.Time {
	for _, o := range sinces {
		if o.Value == v && o.Ago > 0 {
			return now.Add(-o.Ago)
		}
	}
	return time.Time{}
}

// listRuns is one page of the runs the session sees under f: newest
// first, the runs submitted before f.Since's cut left out.
func (u *UI) listRuns(ctx context.Context, s *Session, f runsFilter) ([]runRow, string, error) {
	page, err := u.opts.Runs.List(ctx, daemon.ListOptions{Workflow: f.Workflow, Status: f.Status, Cursor: f.Cursor, Limit: runsPageSize, Allow: s.Allows})
	if err != nil {
		return nil, "", err
	}
	cut := sinceOf(f.Since, time.Now())
	next := page.NextCursor
	var rows []runRow
	for _, ri := range page.Runs {
		if !cut.IsZero() && ri.SubmittedAt.Before(cut) {
			next = "" // newest first: the rest are older still
			break
		}
		rows = append(rows, u.row(ri))
	}
	return rows, next, nil
}

func (u *UI) row(ri *daemon.RunInfo) runRow {
	row := runRow{ID: ri.ID, Workflow: ri.Workflow, Status: ri.Status, URL: Prefix + "/runs/" + url.PathEscape(ri.ID),
		Submitted: ri.SubmittedAt, Started: ri.StartedAt}
	if u.opts.IncludeValues {
		// Without it the run's page says where it failed, by class.
		row.Error = u.redact(firstLine(ri.Error))
	}
	// A run still going has no duration yet: a row that changed every
	// second would be sent, and replaced under the reader's focus, as often.
	row.Duration = duration(ri.StartedAt, ri.FinishedAt)
	return row
}

func (u *UI) runsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	f, problem := parseFilter(r, s)
	rows, next, err := u.listRuns(r.Context(), s, f)
	if err != nil {
		var de *daemon.Error
		if errors.As(err, &de) && de.Code == daemon.CodeBadRequest {
			u.fail(w, r, s, http.StatusBadRequest, "This page of the list no longer exists ("+de.Message+"). Start again from the first page.")
			return
		}
		u.internal(w, r, s, err)
		return
	}
	v := runsView{Filter: f, Rows: rowsData{Runs: rows, Errors: u.opts.IncludeValues}, Scope: s.Scope(), Problem: problem, Statuses: statuses}
	for _, wf := range u.opts.Runs.Catalog().Workflows() {
		if s.Allows(wf.Name) {
			v.Workflows = append(v.Workflows, wf.Name)
		}
	}
	for _, o := range sinces {
		v.Sinces = append(v.Sinces, option{Value: o.Value, Label: o.Label, Selected: o.Value == f.Since})
	}
	if next != "" {
		v.Next = Prefix + "/runs" + f.query(next)
	}
	if f.Cursor != "" {
		v.First = Prefix + "/runs" + f.query("")
	} else {
		v.Live = Prefix + "/runs/live" + f.query("")
	}
	u.render(w, r, s, http.StatusOK, "runs.html", "Runs", v)
}

// livePoll is how often the runs list's stream looks for changes.
const livePoll = time.Second

// runsLive streams the first page of the list under the query's filter
// as server-sent events: an "html" event with the table's rows whenever
// they change, rendered by the same template as the page.
func (u *UI) runsLive(w http.ResponseWriter, r *http.Request, s *Session) {
	f, _ := parseFilter(r, s)
	f.Cursor = ""
	sse := startSSE(w)
	last, lastStatus := "", map[string]string{}
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	idle := 0
	for {
		if s = u.sessions.refresh(s); s == nil {
			_ = sse.send("end", sessionEnded)
			return
		}
		rows, _, err := u.listRuns(r.Context(), s, f)
		if err != nil {
			_ = sse.send("end", liveMessage{Announce: "The daemon stopped answering; reload the page."})
			return
		}
		var b bytes.Buffer
		if err := u.exec(&b, "runs.html", "rows", rowsData{Runs: rows, Errors: u.opts.IncludeValues}); err != nil {
			u.log.Error("ui: rendering the runs' rows failed", "error", u.redact(err.Error()))
			return
		}
		idle++
		if html := b.String(); html != last {
			msg := liveMessage{HTML: html, Announce: announceRuns(lastStatus, rows, last == "")}
			if err := sse.send("html", msg); err != nil {
				return
			}
			last, idle = html, 0
			lastStatus = map[string]string{}
			for _, row := range rows {
				lastStatus[row.ID] = row.Status
			}
		} else if time.Duration(idle)*livePoll >= sseKeepAlive {
			if err := sse.comment(); err != nil {
				return
			}
			idle = 0
		}
		select {
		case <-r.Context().Done():
			return
		case <-u.opts.Stopping:
			_ = sse.send("end", daemonStopping)
			return
		case <-tick.C:
		}
	}
}

// announceRuns says what changed in the list, for screen readers.
func announceRuns(before map[string]string, rows []runRow, first bool) string {
	if first {
		return ""
	}
	var parts []string
	for _, row := range rows {
		old, seen := before[row.ID]
		switch {
		case !seen:
			parts = append(parts, fmt.Sprintf("New run %s of %s: %s.", row.ID, row.Workflow, row.Status))
		case old != row.Status:
			parts = append(parts, fmt.Sprintf("Run %s of %s is now %s.", row.ID, row.Workflow, row.Status))
		}
	}
	return strings.Join(parts, " ")
}
