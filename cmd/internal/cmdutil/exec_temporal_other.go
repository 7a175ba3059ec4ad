//go:build !unix

package cmdutil

import (
	"os"
	"os/exec"
	"os/signal"
)

// execBinary runs path as a child with this process's stdio and
// environment (there is no exec here), and exits with its code once it
// ends; it returns only when the child cannot be started. Ctrl-C reaches
// the child through the console, so this process ignores it and waits.
func execBinary(path string, argv []string) error {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt)
	if err := cmd.Start(); err != nil {
		signal.Reset(os.Interrupt)
		return err
	}
	_ = cmd.Wait() // stdio is passed as files: its only errors are the child's exit
	os.Exit(cmd.ProcessState.ExitCode())
	return nil
}
