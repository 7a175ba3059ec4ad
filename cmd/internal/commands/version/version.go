// Package version implements `mediator version`.
package version

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

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
		Short: "Print mediator's version, its Go version and its MCP SDK version",
		Args:  cobra.NoArgs,
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

type info struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	GoSDK   string `json:"go_sdk"`
}

func versionRun(_ context.Context, opts *Options) error {
	v := info{Version: opts.Version, Go: runtime.Version(), GoSDK: "unknown"}
	if bi, ok := opts.BuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == goSDK {
				v.GoSDK = dep.Version
				if dep.Replace != nil {
					v.GoSDK += " => " + dep.Replace.Path + " " + dep.Replace.Version
				}
			}
		}
		// A `go install module@version` build knows its own version.
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
	}
	if opts.JSON {
		out, err := cmdutil.MarshalJSON(v)
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(out)
		return err
	}
	_, err := fmt.Fprintf(opts.IO.Out, "mediator %s\n%s\nmcp go-sdk %s\n", v.Version, v.Go, v.GoSDK)
	return err
}
