// Package demo implements `mediator demo`: the seed scenario end to end,
// with nothing to set up. Two example MCP servers run in-process on
// loopback, each requiring its own key; mediator keeps both keys in a
// throwaway file keyring, asks the weather server for a forecast, books a
// calendar event composed from it, and then proves from each server's own
// request log that it saw only its own key.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Names the demo registers, as a user would in the config file.
const (
	weatherServer  = "weather"
	weatherSecret  = "api-key"
	calendarServer = "calendar"
	calendarSecret = "token"

	// rainThreshold decides between an umbrella and sunglasses.
	rainThreshold = 0.5
	// demoTimeout bounds the whole run: everything is on loopback, so
	// anything near it means something hangs.
	demoTimeout = 30 * time.Second
)

// Options are the demo's flags and streams.
type Options struct {
	IO   *iostreams.IOStreams
	City string
	JSON bool

	// newKey makes each server's key; nil means random. Tests plant canary
	// values through it.
	newKey func() string
}

// NewCmdDemo returns `mediator demo`.
func NewCmdDemo(ios *iostreams.IOStreams) *cobra.Command {
	opts := &Options{IO: ios}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Chain a weather forecast into a calendar event across two servers with separate keys",
		Long: `Runs the seed scenario with no setup and no network beyond loopback.

Two example MCP servers start in-process: a weather service that requires
API key A (X-API-Key) and a calendar service that requires key B (bearer
token). Both keys go into a throwaway, passphrase-encrypted file keyring.
Mediator asks weather for a forecast, then creates a calendar event whose
arguments come from that forecast, printing each hop with the credential
name it used (never the value). Finally it shows from both servers' own
request logs that each saw only its own key and never heard from the other,
and checks the audit log's hash chain. The config allows the one flow
weather -> calendar; a last hop that tries to send calendar's answer back
to weather is refused by the data-flow policy before anything is sent,
and the audit log names both decisions. Everything is deleted at exit.

Exits 0 only if every check held.`,
		Example: "  mediator demo\n  mediator demo --city Bergen --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return demoRun(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&opts.City, "city", "Oslo", "city to get the forecast for")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the hop report as JSON")
	return cmd
}

// demoRun runs the scenario. The report is assembled in memory and checked
// for both key values before a byte of it is printed.
func demoRun(ctx context.Context, opts *Options) error {
	city := strings.TrimSpace(opts.City)
	if city == "" {
		return cmdutil.Errorf(cmdutil.ExitUsage, "--city is empty: give a city name, e.g. --city Oslo")
	}
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()

	newKey := opts.newKey
	if newKey == nil {
		newKey = func() string { return randomHex(24) }
	}
	keys := &demoKeys{a: credentials.NewSecret(newKey()), b: credentials.NewSecret(newKey())}
	rep := &report{City: city, Hops: []hop{}, Checks: []check{}, keys: keys}
	// Errors pass through a redactor of both keys: they reach stderr, which
	// the check on the report below does not cover.
	red := credentials.NewRedactor()
	red.Add(keys.a)
	red.Add(keys.b)
	var runErr error
	if err := run(ctx, city, keys, rep); err != nil {
		rep.Error = red.Redact(err.Error())
		runErr = errors.New(rep.Error)
	}

	var buf bytes.Buffer
	if opts.JSON {
		rep.writeJSON(&buf)
	} else {
		rep.writeText(&buf)
	}
	// The last check looks at the very bytes about to be printed.
	out := buf.Bytes()
	if bytes.Contains(out, []byte(keys.a.Reveal())) || bytes.Contains(out, []byte(keys.b.Reveal())) {
		// Never print a report that leaked; say so instead.
		out = []byte("mediator demo: the report contained a key value and was not printed\n")
		rep.failed = append(rep.failed, "the report contained a key value")
	}
	if _, err := opts.IO.Out.Write(out); err != nil {
		return fmt.Errorf("writing the demo report: %w", err)
	}
	switch {
	case runErr != nil:
		return &cmdutil.ExitError{Code: cmdutil.ExitToolError, Err: fmt.Errorf("demo failed: %w", runErr)}
	case len(rep.failed) > 0:
		return &cmdutil.ExitError{Code: cmdutil.ExitToolError,
			Err: fmt.Errorf("demo failed %d check(s): %s", len(rep.failed), strings.Join(rep.failed, "; "))}
	}
	return nil
}

// demoKeys are the two servers' keys. They live as Secrets so no printing
// path can show them; Reveal is used only to start the servers and to
// search the servers' logs for them.
type demoKeys struct{ a, b credentials.Secret }

// label names a credential value seen by a server without showing it. A
// bearer token keeps its scheme: "Bearer key B".
func (k *demoKeys) label(v string) string {
	v = strings.TrimSpace(v)
	if scheme, token, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return scheme + " " + k.label(token)
	}
	switch {
	case v == "":
		return "empty"
	case v == k.a.Reveal():
		return "key A"
	case v == k.b.Reveal():
		return "key B"
	case strings.Contains(v, k.a.Reveal()) && strings.Contains(v, k.b.Reveal()):
		return "contains key A and key B"
	case strings.Contains(v, k.a.Reveal()):
		return "contains key A"
	case strings.Contains(v, k.b.Reveal()):
		return "contains key B"
	}
	return "no known key"
}

// run does the work; everything it starts is stopped before it returns.
func run(ctx context.Context, city string, keys *demoKeys, rep *report) (err error) {
	w, err := StartWorld(ctx, keys.a, keys.b)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	store, servers, weatherLog, calendarLog := w.Store, w.Servers, w.WeatherLog, w.CalendarLog
	auditPath := filepath.Join(w.Dir, "audit.jsonl")
	rep.setup(servers, store)

	o, err := orchestrator.New(orchestrator.Options{
		Servers:   servers,
		Secrets:   store,
		Redactor:  store.Redactor(),
		AuditPath: auditPath,
		AuditKeys: store,
		// The one cross-server flow the demo makes: weather's output into
		// calendar's arguments. Nothing may flow back.
		Policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: weatherServer, To: calendarServer}}},
	})
	if err != nil {
		return fmt.Errorf("setting up the orchestrator: %w", err)
	}
	closeOrch := sync1(func() error { return o.Close() })
	defer func() {
		if cerr := closeOrch(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the connections: %w", cerr)
		}
	}()

	o.Connect(ctx)
	for _, st := range o.Servers() {
		rep.connected(st)
		if st.State != connectors.StateReady {
			return fmt.Errorf("server %s is %s: %v", st.Name, st.State, st.Err)
		}
	}

	// Hop 1: the forecast.
	fc, prov, err := callInto[weather.Forecast](ctx, o, rep, weatherServer, weather.ToolGetForecast, weatherSecret,
		map[string]any{"location": city, "days": 1}, nil, orchestrator.Provenance{})
	if err != nil {
		return err
	}

	// Hop 2: the event, every argument taken from hop 1's result, so the
	// call carries weather's data: policy.flows allows weather -> calendar.
	args, why := compose(fc)
	ev, prov, err := callInto[calendar.CreateEventOutput](ctx, o, rep, calendarServer, calendar.ToolCreateEvent, calendarSecret, args, why, prov)
	if err != nil {
		return err
	}

	// Hop 3: calendar's answer sent back to weather, a flow nothing
	// allows: the orchestrator refuses it before anything is sent.
	before := weatherLog.Len()
	refusal := refusedHop(ctx, o, rep, weatherServer, weather.ToolGetForecast, weatherSecret,
		map[string]any{"location": ev.Title, "days": 1}, []string{"location <- title"}, prov)
	rep.check(verifyRefusal(refusal, weatherLog.Len()-before))

	// Close the connections first so the servers' logs are complete.
	if err := closeOrch(); err != nil {
		return fmt.Errorf("closing the connections: %w", err)
	}
	rep.addLog(weatherServer, weatherLog)
	rep.addLog(calendarServer, calendarLog)
	rep.check(verifyLog(weatherServer, weatherLog, keys.a, "key A", keys.b, "key B"))
	rep.check(verifyLog(calendarServer, calendarLog, keys.b, "key B", keys.a, "key A"))
	rep.check(verifyIsolation(weatherLog, calendarLog, keys))
	rep.check(verifyAudit(ctx, auditPath, store, 3))
	rep.check(verifyFlowAudit(auditPath))
	rep.check(verifyAuditClean(auditPath, keys))
	return nil
}

// compose builds create_event's arguments from the forecast, and says where
// each came from.
func compose(fc weather.Forecast) (map[string]any, []string) {
	title, reason := "Sunglasses: "+fc.Location, fmt.Sprintf("precipitation_probability %.2f < %.2f", fc.PrecipitationProbability, rainThreshold)
	if fc.PrecipitationProbability >= rainThreshold {
		title, reason = "Umbrella: "+fc.Location, fmt.Sprintf("precipitation_probability %.2f >= %.2f", fc.PrecipitationProbability, rainThreshold)
	}
	args := map[string]any{
		"title": title,
		"start": fc.Date + "T07:30:00",
		"notes": fc.Summary,
	}
	why := []string{
		fmt.Sprintf("title <- %s and location %q", reason, fc.Location),
		fmt.Sprintf("start <- date %q + \"T07:30:00\"", fc.Date),
		"notes <- summary",
	}
	return args, why
}

// sync1 makes close idempotent: the demo closes early to read complete
// logs, and again (harmlessly) on every error path.
func sync1(f func() error) func() error {
	done, err := false, error(nil)
	return func() error {
		if !done {
			done, err = true, f()
		}
		return err
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
