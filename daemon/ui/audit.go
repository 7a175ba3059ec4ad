package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/mediatorhq/mediator/orchestrator"
)

// The Audit page: the audit records of one run (each carries its run and
// step), read through the orchestrator's one reader of the log, which
// verifies the chain as it reads (orchestrator.ReadAuditFile), and the
// chain's state. Argument values are shown only with audit.include_values
// (the log holds them only then, masked when written) and are masked
// again here.

// auditView is the data of templates/audit.html.
type auditView struct {
	ID, Workflow, RunURL string
	Verify               verifyView
	Records              []auditRow
	// Values says argument values are shown (audit.include_values).
	Values bool
}

// Verification states of the audit log, as the page names them.
const (
	auditVerified     = "verified"      // every record and the head check out
	auditUnsealedTail = "unsealed-tail" // intact, but the last records are not anchored by the head yet
	auditUnchecked    = "not-checked"   // intact chain, but the key to check its MACs could not be read
	auditBroken       = "broken"        // a record or the head fails: the log was tampered with or damaged
	auditNoLog        = "no-log"        // no log yet, or auditing is off
	auditUnreadable   = "unreadable"    // the log could not be read
)

// verifyView is the chain's verification state.
type verifyView struct {
	State   string
	Summary string
	Details []string
	// Records counts the records that verified, of the whole log.
	Records int
}

// auditRow is one record of the run.
type auditRow struct {
	Seq                  uint64
	Time                 time.Time
	Step, Server, Tool   string
	Method               string
	Outcome, ErrorClass  string
	Error                string
	Sources              []string
	AllowedBy            string
	Decision             string
	Duration, ArgsDigest string
	Args                 string
}

// auditSync bounds the wait for the run's last records to be written
// and the keyring's audit key.
const auditSync = 5 * time.Second

// decision says what the policy decided for a record: the rule that let
// other servers' data in, a refusal, or "" when only the server's own
// data (or none) went in.
func decision(r orchestrator.AuditRecord) string {
	switch {
	case r.ErrorClass == string(orchestrator.KindFlowRefused):
		return "refused by the policy"
	case r.AllowedBy != "":
		return "allowed by " + r.AllowedBy
	case len(r.Sources) > 0:
		return "allowed"
	}
	return ""
}

// auditData reads the daemon's audit log, keeping the records of run
// id, and says how its verification went.
func (u *UI) auditData(ctx context.Context, id string) auditView {
	v := auditView{ID: id, Values: u.opts.IncludeValues}
	var o *orchestrator.Orchestrator
	if u.opts.Orchestrator != nil {
		o = u.opts.Orchestrator()
	}
	if o == nil {
		v.Verify = verifyView{State: auditNoLog, Summary: "The daemon has no audit log to show."}
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, auditSync)
	defer cancel()
	read, err := o.ReadAudit(ctx, func(r orchestrator.AuditRecord) error {
		if r.Run == id {
			v.Records = append(v.Records, u.auditRow(r))
		}
		return nil
	})
	rep := read.Report
	v.Verify.Records = rep.Records
	var ve *orchestrator.AuditVerifyError
	switch {
	case read.Path == "":
		v.Verify.State, v.Verify.Summary = auditNoLog, "No audit log: auditing is off (the config's audit.path is empty)."
	case errors.Is(err, fs.ErrNotExist) && rep.Records == 0:
		v.Verify.State, v.Verify.Summary = auditNoLog, "No audit log yet: no call has been made."
	case errors.As(err, &ve):
		v.Verify.State = auditBroken
		where := "its head file"
		if ve.Line > 0 {
			where = fmt.Sprintf("line %d (the record after seq %d)", ve.Line, rep.Records)
		}
		v.Verify.Summary = fmt.Sprintf("Broken: the chain breaks at %s; the log was edited, cut or damaged.", where)
		v.Verify.Details = append(v.Verify.Details, u.redact(ve.Reason),
			fmt.Sprintf("The %d records before it verified; records from there on are not shown, since they cannot be trusted. `mediator audit verify` on the daemon's machine says the same.", rep.Records))
	case err != nil:
		v.Verify.State, v.Verify.Summary = auditUnreadable, u.redact("Unreadable: the audit log could not be read: "+err.Error())
	default:
		u.verified(&v.Verify, rep, read.KeyErr)
	}
	if read.SyncErr != nil {
		v.Verify.Details = append(v.Verify.Details, u.redact("The latest records may be missing: "+read.SyncErr.Error()))
	}
	return v
}

// verified describes a log that verified as far as it was written.
func (u *UI) verified(vv *verifyView, rep orchestrator.AuditReport, keyErr error) {
	vv.State = auditVerified
	vv.Summary = fmt.Sprintf("Verified: %d records, the chain intact", rep.Records)
	if rep.Keyed > 0 && rep.KeyChecked {
		vv.Summary += ", every keyed record's MAC checked with the audit key"
	}
	if rep.Head == orchestrator.HeadMatched {
		vv.Summary += ", and the head names the last record"
	}
	vv.Summary += "."
	if rep.Unkeyed > 0 {
		vv.Details = append(vv.Details, fmt.Sprintf("%d records were written before the audit key and are chained by a plain hash only.", rep.Unkeyed))
	}
	if !rep.KeyChecked && (rep.Keyed > 0 || rep.Head != orchestrator.HeadNone) {
		vv.State = auditUnchecked
		vv.Summary = fmt.Sprintf("Not fully checked: the chain of %d records is intact, but their MACs and the head were not checked, since the audit key could not be read.", rep.Records)
		if keyErr != nil {
			vv.Details = append(vv.Details, u.redact(keyErr.Error()))
		}
	}
	if rep.Head == orchestrator.HeadBehind || rep.Writing {
		vv.State = auditUnsealedTail
		vv.Summary = fmt.Sprintf("Unsealed tail: the chain of %d records is intact, but its last records are not sealed by the head yet.", rep.Records)
		if rep.Head == orchestrator.HeadBehind {
			vv.Details = append(vv.Details, fmt.Sprintf("The head names seq %d; the %d keyed records after it are not anchored by it yet (a write under way, or a process that stopped before updating the head).", rep.HeadSeq, uint64(rep.Records)-rep.HeadSeq))
		}
		if rep.Writing {
			vv.Details = append(vv.Details, "The last record was being written and is not shown; reload to see it.")
		}
	}
}

// auditError is a record's error message as the page may show it. The
// writer keeps argument values out of the message unless it records them
// (audit.include_values, and then the record holds its arguments too): a
// record with arguments has its message shown only while
// audit.include_values is on, as its arguments are.
func (u *UI) auditError(r orchestrator.AuditRecord) string {
	if r.Error == "" {
		return ""
	}
	if len(r.Args) > 0 && !u.opts.IncludeValues {
		return "The message was recorded with argument values; " + hiddenNote + "."
	}
	return u.redact(r.Error)
}

// auditRow is a record as the page shows it, every text masked.
func (u *UI) auditRow(r orchestrator.AuditRecord) auditRow {
	row := auditRow{Seq: r.Seq, Step: r.Step, Server: r.Server, Tool: u.redact(r.Tool), Method: r.Method,
		Outcome: r.Outcome, ErrorClass: r.ErrorClass, Error: u.auditError(r), Sources: r.Sources,
		AllowedBy: u.redact(r.AllowedBy), Decision: u.redact(decision(r)), ArgsDigest: r.ArgsDigest,
		Duration: time.Duration(r.DurationMS * float64(time.Millisecond)).Round(100 * time.Microsecond).String()}
	if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil {
		row.Time = t
	}
	if u.opts.IncludeValues && len(r.Args) > 0 {
		var args any
		if json.Unmarshal(r.Args, &args) == nil {
			row.Args = u.redact(prettyJSON(u.redactValue(args)))
		}
	}
	return row
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, s *Session) {
	info, ok := u.runOf(w, r, s)
	if !ok {
		return
	}
	v := u.auditData(r.Context(), info.ID)
	v.Workflow, v.RunURL = info.Workflow, Prefix+"/runs/"+url.PathEscape(info.ID)
	u.render(w, r, s, http.StatusOK, "audit.html", "Audit of run "+info.ID, v)
}
