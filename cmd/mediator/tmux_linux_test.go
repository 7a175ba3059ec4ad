//go:build linux

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// tmuxPane runs one program in a detached tmux session of its own (its own
// server socket), so a test can type into the real binary on a real
// terminal and read the screen as the user sees it.
type tmuxPane struct {
	t      *testing.T
	socket string
}

// startTmux starts argv in a width x height pane with exactly env as its
// environment. The pane stays after the program exits, so its last screen
// can still be read.
func startTmux(t *testing.T, width, height int, env []string, argv ...string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux not found on PATH (Debian package tmux)")
	}
	p := &tmuxPane{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	args := []string{"new-session", "-d", "-s", "t", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height)}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	// env -i: the pane's shell environment is the test's, not the tmux
	// server's inherited one.
	args = append(args, append([]string{"env", "-i"}, append(env, argv...)...)...)
	p.tmux(args...)
	p.tmux("set-option", "-t", "t", "remain-on-exit", "on")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", p.socket, "kill-server").Run() })
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Type sends text literally, then the named keys (tmux key names:
// "Enter", "Escape", "C-c").
func (p *tmuxPane) Type(text string, keys ...string) {
	p.t.Helper()
	if text != "" {
		p.tmux("send-keys", "-t", "t", "-l", text)
	}
	if len(keys) > 0 {
		p.tmux(append([]string{"send-keys", "-t", "t"}, keys...)...)
	}
}

// Screen is the pane's visible text.
func (p *tmuxPane) Screen() string {
	p.t.Helper()
	return p.tmux("capture-pane", "-p", "-t", "t")
}

// WaitFor waits until the screen shows every one of texts, and returns
// it. Thirty seconds tells "comes" from "never comes" on a loaded machine;
// it is no timing claim.
func (p *tmuxPane) WaitFor(texts ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var screen string
	for {
		screen = p.Screen()
		all := true
		for _, s := range texts {
			all = all && strings.Contains(screen, s)
		}
		if all {
			return screen
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("the screen never showed %q; it shows:\n%s", texts, screen)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dead reports whether the program in the pane has exited.
func (p *tmuxPane) Dead() bool {
	p.t.Helper()
	return strings.TrimSpace(p.tmux("display-message", "-p", "-t", "t", "#{pane_dead}")) == "1"
}

// WaitExit waits for the program to exit.
func (p *tmuxPane) WaitExit() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !p.Dead() {
		if time.Now().After(deadline) {
			p.t.Fatalf("the program did not exit; the screen shows:\n%s", p.Screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
