package version

import (
	"context"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// A build the go command stamped knows its module version and the
// revision it was built from; one without a stamp says only what it knows.
func TestVersionReadsTheVCSStamp(t *testing.T) {
	stamped := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Path: "github.com/mediatorhq/mediator", Version: "v0.3.1-0.20260501073000-1a2b3c4d5e6f+dirty"},
			Deps: []*debug.Module{{Path: goSDK, Version: "v1.8.0"}},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
				{Key: "vcs.time", Value: "2026-05-01T07:30:00Z"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, true
	}
	for _, tc := range []struct {
		name    string
		version string
		bi      func() (*debug.BuildInfo, bool)
		json    bool
		want    []string
	}{
		{"stamped", "dev", stamped, false, []string{
			"mediator v0.3.1-0.20260501073000-1a2b3c4d5e6f+dirty",
			"revision 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b (2026-05-01T07:30:00Z, modified)",
			"go1.", "mcp go-sdk v1.8.0"}},
		{"ldflags win", "v1.2.3", stamped, false, []string{"mediator v1.2.3", "revision 1a2b3c4d5e6f"}},
		{"no stamp", "dev", func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true }, false,
			[]string{"mediator dev", "go1.", "mcp go-sdk unknown"}},
		{"json", "dev", stamped, true, []string{`"revision": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"`, `"time": "2026-05-01T07:30:00Z"`, `"modified": true`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			if err := versionRun(context.Background(), &Options{IO: ios, Version: tc.version, BuildInfo: tc.bi, JSON: tc.json}); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if tc.json && !json.Valid(out.Bytes()) {
				t.Fatalf("not JSON: %s", got)
			}
			lines := strings.Split(strings.TrimSpace(got), "\n")
			for i, w := range tc.want {
				if tc.json {
					if !strings.Contains(got, w) {
						t.Errorf("missing %s in\n%s", w, got)
					}
					continue
				}
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: want prefix %q in\n%s", i+1, w, got)
				}
			}
			if tc.name == "no stamp" && strings.Contains(got, "revision") {
				t.Errorf("a build without a VCS stamp shows a revision:\n%s", got)
			}
		})
	}
}

func TestNewCmdVersionParsesFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Version: "v9"}
	var got *Options
	cmd := NewCmdVersion(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.JSON || got.Version != "v9" || got.BuildInfo == nil {
		t.Errorf("options: %+v", got)
	}
}
