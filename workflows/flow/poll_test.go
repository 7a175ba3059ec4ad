package flow

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPollProblems(t *testing.T) {
	runtime := ValidateOptions{RetryAtRunTime: true}
	call := header + "steps:\n  - id: job\n    call: {server: s, tool: status}\n"
	runProblemCases(t, []problemCase{
		{name: "until with poll", opts: runtime, src: call + "    until: ${ .result.status == \"done\" }\n    poll: {every: 10s, max: 30m}\n"},
		{name: "until reads inputs and text", opts: runtime, src: header + "inputs: {want: {type: string}}\nsteps:\n  - id: job\n    call: {server: s, tool: status}\n    until: ${ .text == .inputs.want and .attempts < 100 }\n    poll: {every: 1s, max: 1m}\n"},
		{name: "until without poll", opts: runtime, src: call + "    until: ${ .result.done }\n", want: []string{
			`6:5 steps[0].until: until needs poll: {every: <duration>, max: <duration>} beside it`}},
		{name: "poll without until", opts: runtime, src: call + "    poll: {every: 10s, max: 30m}\n", want: []string{
			`6:5 steps[0].poll: poll needs until: ${ ... } beside it`}},
		{name: "every zero", opts: runtime, src: call + "    until: ${ .result.done }\n    poll: {every: 0s, max: 30m}\n", want: []string{
			`7:19 steps[0].poll.every: invalid duration "0s": write a positive duration`}},
		{name: "every negative", opts: runtime, src: call + "    until: ${ .result.done }\n    poll: {every: -1s, max: 30m}\n", want: []string{
			`7:19 steps[0].poll.every: invalid duration "-1s": write a positive duration`}},
		{name: "max shorter than every", opts: runtime, src: call + "    until: ${ .result.done }\n    poll: {every: 1m, max: 30s}\n", want: []string{
			`7:28 steps[0].poll.max: max 30s is shorter than every 1m, so the call would never be repeated`}},
		{name: "poll missing max", opts: runtime, src: call + "    until: ${ .result.done }\n    poll: {every: 1m}\n", want: []string{
			`7:11 steps[0].poll: missing max`}},
		{name: "poll unknown field", opts: runtime, src: call + "    until: ${ .result.done }\n    poll: {every: 1m, max: 2m, tries: 3}\n", want: []string{
			`7:32 steps[0].poll.tries: unknown field "tries"`}},
		{name: "until not an expression", opts: runtime, src: call + "    until: true\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`6:12 steps[0].until: must be a ${ ... } expression that yields true when the wait is over`}},
		{name: "until reads another step", opts: runtime, src: header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n  - id: job\n    call: {server: s, tool: status}\n    until: ${ .steps.a.result.done }\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`8:12 steps[1].until: .steps is not in scope here`}},
		{name: "until unknown root", opts: runtime, src: call + "    until: ${ .reslt.done }\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`6:12 steps[0].until: .reslt is not in scope (did you mean "result"?)`}},
		{name: "until reads item outside for_each", opts: runtime, src: call + "    until: ${ .result.id == .item }\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`6:12 steps[0].until: .item is bound only inside a for_each step`}},
		{name: "until per item", opts: runtime, src: header + "steps:\n  - id: job\n    for_each: ${ [1, 2] }\n    call: {server: s, tool: status}\n    with: {id: ${ .item }}\n    until: ${ .result.id == .item and .result.done }\n    poll: {every: 1s, max: 1m}\n"},
		{name: "until on a read", opts: runtime, src: header + "steps:\n  - id: r\n    read: {server: s, uri: \"file:///x\"}\n    until: ${ .result.done }\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`6:5 steps[0].until: until applies only to a step with call:`}},
		{name: "until on a group", opts: runtime, src: header + "steps:\n  - id: g\n    until: ${ .result.done }\n    poll: {every: 1s, max: 1m}\n    steps:\n      - id: a\n        call: {server: s, tool: t}\n", want: []string{
			`5:5 steps[0].until: until applies only to a step with call:`}},
		{name: "offline validation says it cannot judge the tool", src: call + "    until: ${ .result.done }\n    poll: {every: 1s, max: 1m}\n", want: []string{
			`6:5 steps[0].until: until repeats s.status, which only a read-only or idempotent tool allows; offline validation cannot see its annotations`}},
	})
}

func TestPollParsed(t *testing.T) {
	f, probs := Check(context.Background(), "f.flow.yaml", []byte(header+"steps:\n  - id: job\n    call: {server: s, tool: status}\n    until: ${ .result.status == \"done\" }\n    poll: {every: 10s, max: 30m}\n"), ValidateOptions{RetryAtRunTime: true})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	s := f.Steps[0]
	if s.Until == nil || s.Until.Source != `.result.status == "done"` || s.Poll == nil || s.Poll.Every != 10*time.Second || s.Poll.Max != 30*time.Minute {
		t.Fatalf("until %v poll %+v", s.Until, s.Poll)
	}
	if len(s.Until.References) != 0 {
		t.Errorf("until references steps %v", s.Until.References)
	}
	v, err := Eval(context.Background(), s.Until, map[string]any{"result": map[string]any{"status": "done"}})
	if err != nil || v != true {
		t.Errorf("until on a done result: %v, %v", v, err)
	}
}

// until is refused on a tool that is neither read-only nor idempotent, by
// the annotations the retry rule reads: an untrusted server's count for
// nothing.
func TestValidateConnectPoll(t *testing.T) {
	cat := testServers(t)
	trusted := ValidateOptions{Catalog: cat, TrustAnnotations: func(string) bool { return true }}
	untrusted := ValidateOptions{Catalog: cat}
	wait := func(server, tool, with string) string {
		return header + "steps:\n  - id: w\n    call: {server: " + server + ", tool: " + tool + "}\n    with: " + with + "\n    until: ${ .result.location == \"x\" }\n    poll: {every: 1s, max: 1m}\n"
	}
	runProblemCases(t, []problemCase{
		{name: "read-only tool", opts: trusted, src: wait("weather", "get_forecast", "{location: x}")},
		{name: "tool with effects", opts: trusted, src: wait("calendar", "create_event", "{title: x, start: y}"), want: []string{
			`7:5 steps[0].until: until repeats the call of calendar.create_event, but the tool is not known to be read-only or idempotent`}},
		{name: "untrusted annotations", opts: untrusted, src: wait("weather", "get_forecast", "{location: x}"), want: []string{
			`7:5 steps[0].until: until repeats the call of weather.get_forecast, but the tool is not known to be read-only or idempotent`}},
		{name: "an idempotency key does not make a tool pollable", opts: trusted,
			src: header + "steps:\n  - id: w\n    call: {server: calendar, tool: create_event}\n    with: {title: x, start: y}\n    idempotency_key: k\n    until: ${ .result.ok }\n    poll: {every: 1s, max: 1m}\n", want: []string{
				`8:5 steps[0].until: until repeats the call of calendar.create_event`}},
	})
}

// The JSON Schema accepts what the loader accepts of tolerate_failures,
// until and poll, and rejects what it rejects for its shape.
func TestSchemaToleranceAndPoll(t *testing.T) {
	rs := flowSchema(t)
	each := header + "steps:\n  - id: a\n    for_each: [1]\n    call: {server: s, tool: t}\n"
	call := header + "steps:\n  - id: a\n    call: {server: s, tool: t}\n"
	for name, tc := range map[string]struct {
		src string
		ok  bool
	}{
		"count":                {each + "    tolerate_failures: 3\n", true},
		"percent":              {each + "    tolerate_failures: \"12.5%\"\n", true},
		"100%":                 {each + "    tolerate_failures: \"100%\"\n", true},
		"until and poll":       {call + "    until: ${ .result.done }\n    poll: {every: 10s, max: 30m}\n", true},
		"negative count":       {each + "    tolerate_failures: -1\n", false},
		"over 100%":            {each + "    tolerate_failures: \"150%\"\n", false},
		"not integer":          {each + "    tolerate_failures: 1.5\n", false},
		"tolerate on a call":   {call + "    tolerate_failures: 1\n", false},
		"until without poll":   {call + "    until: ${ .result.done }\n", false},
		"poll without until":   {call + "    poll: {every: 10s, max: 30m}\n", false},
		"poll without max":     {call + "    until: ${ .result.done }\n    poll: {every: 10s}\n", false},
		"until not expression": {call + "    until: done\n    poll: {every: 10s, max: 30m}\n", false},
	} {
		t.Run(name, func(t *testing.T) {
			_, perr := Parse("f.flow.yaml", []byte(tc.src))
			if (perr == nil) != tc.ok {
				t.Fatalf("loader: %v", perr)
			}
			if err := rs.Validate(yamlInstance(t, tc.src)); (err == nil) != tc.ok {
				t.Errorf("schema: %v (want ok=%v)", err, tc.ok)
			}
		})
	}
}

// The graph notes a step's tolerance and its wait.
func TestGraphNotesToleranceAndPoll(t *testing.T) {
	f, probs := Check(context.Background(), "f.flow.yaml", []byte(header+`steps:
  - id: each
    for_each: ${ [1, 2] }
    tolerate_failures: "10%"
    call: {server: s, tool: t}
  - id: job
    call: {server: s, tool: status}
    until: ${ .result.done }
    poll: {every: 10s, max: 1h}
`), ValidateOptions{RetryAtRunTime: true})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	var notes []string
	for _, n := range BuildGraph(f).Nodes {
		notes = append(notes, n.ID+": "+strings.Join(n.Notes, " · "))
	}
	got := strings.Join(notes, "\n")
	for _, want := range []string{"each: for each · tolerate 10% failed", "job: until, every 10s ≤1h"} {
		if !strings.Contains(got, want) {
			t.Errorf("graph notes\n%s\nlack %q", got, want)
		}
	}
}
