// Package version implements `mediator version` and the root's --version.
package version

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

const goSDK = "github.com/modelcontextprotocol/go-sdk"

// Options of `mediator version`.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	JSON    bool
	// BuildInfo reads the binary's module versions (runtime/debug.ReadBuildInfo).
	BuildInfo func() (*debug.BuildInfo, bool)
}

// NewCmdVersion returns `mediator version`.
func NewCmdVersion(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Version: f.Version, BuildInfo: debug.ReadBuildInfo}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print mediator's version and source revision, its Go version and its MCP SDK version",
		Long: `Prints the version mediator was built as (set with -ldflags, else the
module version the go command stamped), the source revision it was built
from with its commit time and whether the tree had uncommitted changes
(from the VCS data the go command records), the Go version and the
go-sdk version. ` + "`mediator --version`" + ` prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return versionRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// Info is what mediator knows of its own build.
type Info struct {
	Version string `json:"version"`
	// Revision, Time and Modified come from the go command's VCS stamp
	// (vcs.revision, vcs.time, vcs.modified); empty in a build without
	// one (go run, -buildvcs=false, a build outside a repository).
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	GoSDK    string `json:"go_sdk"`
}

// Read collects Info: version is what the build set (-ldflags), "dev"
// when it set nothing, and then the module version the go command
// stamped, when there is one, takes its place.
func Read(version string, buildInfo func() (*debug.BuildInfo, bool)) Info {
	v := Info{Version: version, Go: runtime.Version(), GoSDK: "unknown"}
	bi, ok := buildInfo()
	if !ok {
		return v
	}
	for _, dep := range bi.Deps {
		if dep.Path == goSDK {
			v.GoSDK = dep.Version
			if dep.Replace != nil {
				v.GoSDK += " => " + dep.Replace.Path + " " + dep.Replace.Version
			}
		}
	}
	if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// Text is Info as `mediator version` prints it, one fact a line.
func (v Info) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mediator %s\n", v.Version)
	if v.Revision != "" {
		var notes []string
		if v.Time != "" {
			notes = append(notes, v.Time)
		}
		if v.Modified {
			notes = append(notes, "modified")
		}
		fmt.Fprintf(&b, "revision %s", v.Revision)
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s\nmcp go-sdk %s\n", v.Go, v.GoSDK)
	return b.String()
}

func versionRun(_ context.Context, opts *Options) error {
	v := Read(opts.Version, opts.BuildInfo)
	if opts.JSON {
		out, err := cmdutil.MarshalJSON(v)
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(out)
		return err
	}
	_, err := fmt.Fprint(opts.IO.Out, v.Text())
	return err
}
