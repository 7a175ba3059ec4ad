package cmdutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

// TemporalBinary is the binary that has engine: temporal.
const TemporalBinary = "mediator-temporal"

// ExecTemporal runs mediator-temporal in this process's place, with the
// same arguments and environment, for a command line that needs Temporal
// (why says what: "engine: temporal in /etc/mediator/config.yaml"). It
// looks beside this executable first, then on PATH. On Unix the process
// is replaced (exec); elsewhere mediator-temporal runs as a child with
// this process's stdio and mediator exits with its code. It returns only
// when mediator-temporal cannot be started, with an error (exit code 2)
// saying how to get it.
func ExecTemporal(why string) error {
	path, err := findTemporalBinary()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s needs the %s binary, which mediator runs in its place: %w; install it with `go install github.com/mediatorhq/mediator/cmd/%s@latest` beside mediator", why, TemporalBinary, err, TemporalBinary)}
	}
	if err := execBinary(path, append([]string{path}, os.Args[1:]...)); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: start %s: %w", why, path, err)}
	}
	return nil
}

func findTemporalBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), TemporalBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(TemporalBinary)
	if err != nil {
		return "", errors.New("it is neither beside this executable nor on PATH")
	}
	return p, nil
}

// NewCmdTemporalOnly is a hidden command of mediator for one that only
// mediator-temporal has (`worker`): it hands the whole command line,
// flags and --help included, to mediator-temporal (ExecTemporal).
func NewCmdTemporalOnly(name string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              "Runs " + TemporalBinary + " " + name,
		Long:               "mediator " + name + " is " + TemporalBinary + " " + name + ", which mediator runs in its place; `mediator " + name + " --help` shows its help.",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return ExecTemporal("mediator " + name)
		},
	}
}
