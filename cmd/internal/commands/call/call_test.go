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
		{`[1,2]`, nil, "--args: tool arguments must be a JSON object such as '{\"city\": \"Oslo\"}', got an array"},
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
	args, _ := BuildArgs(`{"city": "Oslo"}`, []string{"days=3", "units=metric", "where.country=NO"}, nil, nil)
	out, _ := cmdutil.MarshalJSON(args)
	fmt.Print(string(out))
	// Output:
	// {
	//   "city": "Oslo",
	//   "days": 3,
	//   "units": "metric",
	//   "where": {
	//     "country": "NO"
	//   }
	// }
}
