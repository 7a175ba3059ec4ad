package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/orchestrator"
)

// verifyLog checks from one server's own log that every request it
// received presented its own key and none carried the other's, anywhere in
// the URL, headers or body.
func verifyLog(server string, log *guard.RequestLog, own credentials.Secret, ownLabel string, other credentials.Secret, otherLabel string) check {
	n := log.Len()
	withOwn, withOther := log.Saw(own.Reveal()), log.Saw(other.Reveal())
	rejected := 0
	for _, e := range log.Entries() {
		if !e.Authorized {
			rejected++
		}
	}
	presented := log.Presented()
	onlyOwn := len(presented) == 1 && presented[0] == own.Reveal()
	return check{
		Name:   fmt.Sprintf("%s saw only %s", server, ownLabel),
		Passed: n > 0 && withOwn == n && withOther == 0 && rejected == 0 && onlyOwn,
		Detail: fmt.Sprintf("%d request(s) received, %d carrying %s, %d carrying %s, %d rejected",
			n, withOwn, ownLabel, withOther, otherLabel, rejected),
	}
}

// verifyIsolation shows that neither server heard from the other. The
// example servers have no HTTP client at all; their logs confirm it: a
// request from the other server would carry that server's key or no valid
// key, and every request each got carried its own key, which only
// mediator's connector for that server holds.
func verifyIsolation(weatherLog, calendarLog *guard.RequestLog, keys *demoKeys) check {
	wForeign := foreign(weatherLog, keys.b)
	cForeign := foreign(calendarLog, keys.a)
	return check{
		Name:   "neither server contacted the other",
		Passed: wForeign == 0 && cForeign == 0 && weatherLog.Len() > 0 && calendarLog.Len() > 0,
		Detail: fmt.Sprintf("weather got %d request(s) not from mediator's weather connector, calendar %d not from its calendar connector; "+
			"weather's came over %d connection(s), calendar's over %d, all from loopback",
			wForeign, cForeign, connections(weatherLog), connections(calendarLog)),
	}
}

// foreign counts requests that did not come from the server's own
// connector: unauthenticated, or carrying the other server's key.
func foreign(log *guard.RequestLog, otherKey credentials.Secret) int {
	n := 0
	for _, e := range log.Entries() {
		if !e.Authorized || !isLoopback(e.Remote) {
			n++
		}
	}
	return n + log.Saw(otherKey.Reveal())
}

func connections(log *guard.RequestLog) int {
	seen := map[string]bool{}
	for _, e := range log.Entries() {
		seen[e.Remote] = true
	}
	return len(seen)
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// verifyAudit checks the audit log with the keyring's audit key: every
// record keyed, chained, one per hop, and the head on the last.
func verifyAudit(ctx context.Context, path string, store *credentials.Store, want int) check {
	c := check{Name: "audit log keyed, chained and anchored"}
	key, err := store.AuditKey(ctx, false)
	if err != nil {
		c.Detail = fmt.Sprintf("reading the audit key: %v", err)
		return c
	}
	r, err := orchestrator.VerifyAuditFile(path, &key)
	c.Passed = err == nil && r.Records == want && r.Keyed == want && r.Head == orchestrator.HeadMatched
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%d intact record(s), then: %v", r.Records, err)
	default:
		c.Detail = fmt.Sprintf("%d record(s), one per hop (want %d), %d with an HMAC under the keyring's audit key, "+
			"each chained to the one before; the head %s", r.Records, want, r.Keyed, r.Head)
	}
	return c
}

// verifyAuditClean looks for either key's value in the audit file's bytes.
func verifyAuditClean(path string, keys *demoKeys) check {
	c := check{Name: "audit log holds no key"}
	b, err := os.ReadFile(path)
	if err != nil {
		c.Detail = fmt.Sprintf("reading the audit log: %v", err)
		return c
	}
	a, bb := bytes.Count(b, []byte(keys.a.Reveal())), bytes.Count(b, []byte(keys.b.Reveal()))
	c.Passed = a == 0 && bb == 0
	c.Detail = fmt.Sprintf("key A found %d time(s), key B %d time(s) in %d bytes", a, bb, len(b))
	return c
}

// verifyRefusal checks that the hop carrying calendar's data back to
// weather was refused by the data-flow policy and that weather received
// nothing for it.
func verifyRefusal(err error, received int) check {
	c := check{Name: "an undeclared flow is refused before sending"}
	var oe *orchestrator.Error
	refused := errors.As(err, &oe) && oe.Kind == orchestrator.KindFlowRefused
	c.Passed = refused && received == 0
	switch {
	case err == nil:
		c.Detail = "calendar -> weather was allowed: the call was made"
	case !refused:
		c.Detail = fmt.Sprintf("refused for another reason: %v", err)
	default:
		c.Detail = fmt.Sprintf("calendar -> weather refused (%s); weather received %d request(s) for it", oe.Kind, received)
	}
	return c
}

// verifyFlowAudit checks that the audit log names each decision: the
// calendar call's sources and the rule that allowed them, and the refused
// call back to weather.
func verifyFlowAudit(path string) check {
	c := check{Name: "flow decisions audited"}
	b, err := os.ReadFile(path)
	if err != nil {
		c.Detail = fmt.Sprintf("reading the audit log: %v", err)
		return c
	}
	var allowed, refused int
	for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte("\n")) {
		var rec struct {
			Server     string   `json:"server"`
			Sources    []string `json:"sources"`
			AllowedBy  string   `json:"allowed_by"`
			ErrorClass string   `json:"error_class"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch {
		case rec.Server == calendarServer && slices.Equal(rec.Sources, []string{weatherServer}) && rec.AllowedBy == "weather -> calendar (policy)":
			allowed++
		case rec.Server == weatherServer && slices.Equal(rec.Sources, []string{calendarServer}) && rec.ErrorClass == string(orchestrator.KindFlowRefused):
			refused++
		}
	}
	c.Passed = allowed == 1 && refused == 1
	c.Detail = fmt.Sprintf("%d record(s) of weather -> calendar allowed by policy.flows (want 1), %d of calendar -> weather refused (want 1)", allowed, refused)
	return c
}
