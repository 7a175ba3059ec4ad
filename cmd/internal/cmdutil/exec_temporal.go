package cmdutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// TemporalBinary is the binary that has engine: temporal.
const TemporalBinary = "mediator-temporal"

// ExecTemporal replaces this process with mediator-temporal, run with the
// same arguments and environment, for a command line that needs Temporal
// (why says what: "engine: temporal in /etc/mediator/config.yaml"). It
// looks beside this executable first, then on PATH. It returns only when
// mediator-temporal cannot be started, with an error saying how to get it.
func ExecTemporal(why string) error {
	path, err := findTemporalBinary()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s needs the %s binary, which mediator runs in its place: %w; install it with `go install github.com/mediatorhq/mediator/cmd/%s@latest` beside mediator", why, TemporalBinary, err, TemporalBinary)}
	}
	argv := append([]string{path}, os.Args[1:]...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
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
