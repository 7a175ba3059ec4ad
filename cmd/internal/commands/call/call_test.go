package call

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/internal/hostile"
)

func TestNewCmdCallParsesFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(string) (string, bool) { return "", false })
	var got *Options
	cmd := NewCmdCall(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"weather", "get_forecast", "--args", `{"days": 2}`, "-a", "city=Oslo,Norway", "--arg", "units=metric", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Server != "weather" || got.Tool != "get_forecast" || got.ArgsJSON != `{"days": 2}` || !got.JSON {
		t.Errorf("options: %+v", got)
	}
	// StringArray, not StringSlice: a comma inside a value stays.
	if !reflect.DeepEqual(got.Pairs, []string{"city=Oslo,Norway", "units=metric"}) {
		t.Errorf("pairs: %q", got.Pairs)
	}

	got = nil
	cmd = NewCmdCall(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"charts", "render", "-o", "chart.png"})
	if err := cmd.Execute(); err != nil || got.Output != "chart.png" {
		t.Errorf("-o: %v, %+v", err, got)
	}
}

func TestBuildArgs(t *testing.T) {
	noFile := func(string) ([]byte, error) { return nil, errors.New("no such file") }
	args, err := BuildArgs(`{"days": 2, "where": {"country": "NO"}}`, []string{
		"city=Oslo", "n=42", "big=9007199254740993", "ratio=0.5", "ok=true", "none=null", "list=[1,\"a\"]",
		"quoted=\"42\"", "zip=007", "where.city=Bergen", "days=3", "empty=",
	}, nil, noFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"days": int64(3), "where": map[string]any{"country": "NO", "city": "Bergen"},
		"city": "Oslo", "n": int64(42), "big": int64(9007199254740993), "ratio": 0.5, "ok": true, "none": nil,
		"list": []any{int64(1), "a"}, "quoted": "42", "zip": "007", "empty": "",
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("args:\n got %#v\nwant %#v", args, want)
	}

	args, err = BuildArgs("-", nil, strings.NewReader(`{"a": 1}`), noFile)
	if err != nil || args["a"] != int64(1) {
		t.Errorf("stdin: %v %v", args, err)
	}
	args, err = BuildArgs("@x.json", nil, nil, func(p string) ([]byte, error) { return []byte(`{"from": "` + p + `"}`), nil })
	if err != nil || args["from"] != "x.json" {
		t.Errorf("@file: %v %v", args, err)
	}

	for _, tc := range []struct {
		argsJSON string
		pairs    []string
		want     string
	}{
		{`{"a":`, nil, "--args: not valid JSON"},
		{`[1,2]`, nil, "--args: tool arguments must be a JSON object such as '{\"location\": \"Oslo\"}', got an array"},
		{`{} {}`, nil, "more than one JSON value"},
		{"@missing.json", nil, "--args: no such file"},
		{"", []string{"=x"}, "-a =…: expected KEY=VALUE"},
		{"", []string{"secretvalue"}, "-a secretvalue: expected KEY=VALUE"},
		{"", []string{"a=1", "a.b=2"}, "-a a.b: a is already set to a number, which cannot hold \"b\""},
		{"", []string{"a..b=1"}, `-a a..b: empty segment in key "a..b"`},
	} {
		_, err := BuildArgs(tc.argsJSON, tc.pairs, nil, noFile)
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("BuildArgs(%q, %q) = %v, want usage error containing %q", tc.argsJSON, tc.pairs, err, tc.want)
		}
	}
}

func ExampleBuildArgs() {
	args, _ := BuildArgs(`{"location": "Oslo"}`, []string{"days=3", "units=metric", "where.country=NO"}, nil, nil)
	out, _ := cmdutil.MarshalJSON(args)
	fmt.Print(string(out))
	// Output:
	// {
	//   "days": 3,
	//   "location": "Oslo",
	//   "units": "metric",
	//   "where": {
	//     "country": "NO"
	//   }
	// }
}

// A VALUE is read as the schema types its property, so what the user
// typed for a string stays that string; untyped properties keep the JSON
// reading.
func TestApplyPairsFollowsTheSchema(t *testing.T) {
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"zip":      map[string]any{"type": "string"},
			"version":  map[string]any{"type": "string"},
			"label":    map[string]any{"type": []any{"string", "null"}},
			"name":     map[string]any{"type": "string"},
			"quoted":   map[string]any{"type": "string"},
			"days":     map[string]any{"type": "integer"},
			"ratio":    map[string]any{"type": "number"},
			"flag":     map[string]any{"type": "boolean"},
			"either":   map[string]any{"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
			"mode":     map[string]any{"enum": []any{"1", "2"}},
			"anything": map[string]any{"description": "no type"},
			"where": map[string]any{
				"type":       "object",
				"properties": map[string]any{"code": map[string]any{"type": "string"}},
			},
			"tags": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		},
	}
	pairs, err := ParsePairs([]string{
		"zip=12345", "version=1.10", "label=null", "name=true", "quoted=\"42\"", "days=3", "ratio=2",
		"flag=false", "either=7", "mode=1", "anything=[1,2]", "where.code=0047", "where.n=5", "tags.x=9", "extra=8",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !NeedsSchema(pairs) {
		t.Error("numbers among the values: the schema matters")
	}
	args := map[string]any{"where": map[string]any{"city": "Oslo"}}
	if err := ApplyPairs(args, pairs, schema); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"zip": "12345", "version": "1.10", "label": nil, "name": "true", "quoted": "42", "days": int64(3), "ratio": int64(2),
		"flag": false, "either": int64(7), "mode": "1", "anything": []any{int64(1), int64(2)},
		"where": map[string]any{"city": "Oslo", "code": "0047", "n": int64(5)}, "tags": map[string]any{"x": "9"}, "extra": int64(8),
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("args:\n got %#v\nwant %#v", args, want)
	}

	// The schema as a typed value (what an in-process server holds) works
	// the same as decoded JSON.
	typed := struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
	}{Properties: map[string]struct {
		Type string `json:"type"`
	}{"zip": {Type: "string"}}}
	args = map[string]any{}
	if err := ApplyPairs(args, []Pair{{Key: "zip", Raw: "4711"}, {Key: "plz", Raw: "4711"}}, typed); err != nil {
		t.Fatal(err)
	}
	if args["zip"] != "4711" || args["plz"] != int64(4711) {
		t.Errorf("typed schema: %#v", args)
	}

	strs, _ := ParsePairs([]string{"location=Oslo", `note="hi"`, "empty="})
	if NeedsSchema(strs) {
		t.Error("only strings: nothing for the schema to decide")
	}
}

// The call command reads a server's schema to type -a values; it follows
// properties and anyOf branches of the schema as written, never $refs, so
// schemas that attack a validator or a walker cost it nothing.
func TestApplyPairsOnHostileSchemas(t *testing.T) {
	pairs, err := ParsePairs([]string{"text=1", "a.a.a=2", "p0.p1=3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []map[string]any{hostile.CyclicSchema(), hostile.ExplosiveSchema(60), hostile.DeepAlternativesSchema(), hostile.FanOutSchema(20)} {
		if err := ApplyPairs(map[string]any{}, pairs, s); err != nil {
			t.Error(err)
		}
	}
}
