package commands_test

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
)

// Every `mediator call` and `mediator tools` example in the help texts runs
// as printed against the demo's weather and calendar servers, so a user
// who copies one gets a result, not a schema error.
func TestHelpExamplesRun(t *testing.T) {
	const weatherKey, calendarKey = "canary-help-weather-Rk4Tn8", "canary-help-calendar-Vm2Qs6"
	e := newTestEnv(t)
	e.canary = append(e.canary, weatherKey, calendarKey)
	ws := httptest.NewServer(weather.NewHandler(weatherKey, guard.NewRequestLog(nil)))
	t.Cleanup(ws.Close)
	cs := httptest.NewServer(calendar.NewHandler(calendarKey, guard.NewRequestLog(nil)))
	t.Cleanup(cs.Close)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + ws.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  calendar:\n    url: " + cs.URL + "\n    auth: {type: bearer, secret: token}\n    timeout: 10s\n")
	e.mustRun(weatherKey, "secret", "set", "weather", "api-key")
	e.mustRun(calendarKey, "secret", "set", "calendar", "token")

	// `--args @args.json` reads from the working directory.
	t.Chdir(e.dir)
	if err := os.WriteFile("args.json", []byte(`{"date": "2026-05-01"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	ios, _, _, _ := iostreams.Test()
	root := commands.NewCmdRoot(cmdutil.New(ios, "test", func(string) (string, bool) { return "", false }))
	texts := []string{root.Example}
	for _, c := range root.Commands() {
		texts = append(texts, c.Example)
	}
	ran := 0
	for _, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			args := shellWords(t, strings.TrimSpace(line))
			if len(args) < 3 || args[0] != "mediator" || (args[1] != "call" && args[1] != "tools") {
				continue
			}
			if args[1] == "tools" && len(args) > 2 && args[2] == "accept" {
				continue
			}
			e.mustRun("", args[1:]...)
			ran++
		}
	}
	if ran < 4 {
		t.Errorf("ran %d examples; the help texts lost theirs?", ran)
	}
}

// shellWords splits a command line as a POSIX shell would for the quoting
// the examples use: blanks, and single-quoted words.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '|' || r == '$' || r == '"' || r == '\\':
			return nil // pipelines and expansions are not run here
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in help example %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
