package connectors

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// eventWait is how long a test waits for a server to write an event: long
// enough to tell "comes" from "never comes" on a loaded machine.
const eventWait = 30 * time.Second

// shutdownServer configures the shutdown server (internal/hostile) in
// mode; the test reads its events from the log and lets a lingering one
// exit with release.
func shutdownServer(t *testing.T, mode string) (cfg Config, log hostile.ShutdownLog, release func()) {
	t.Helper()
	cfg = stdioTestConfig(t, "slow")
	dir := t.TempDir()
	events, rel := filepath.Join(dir, "events"), filepath.Join(dir, "release")
	if err := os.WriteFile(events, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Env = map[string]string{
		stdioServerEnv:             "shutdown",
		hostile.ShutdownModeEnv:    mode,
		hostile.ShutdownEventsEnv:  events,
		hostile.ShutdownReleaseEnv: rel,
	}
	return cfg, hostile.ShutdownLog(events), func() {
		if err := os.WriteFile(rel, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func waitEvent(t *testing.T, log hostile.ShutdownLog, event string) {
	t.Helper()
	if !log.Wait(event, eventWait) {
		t.Fatalf("the server never wrote %q; it wrote:\n%s", event, log)
	}
}

// Without Shutdowns, Close returns once the server has exited.
func TestCloseWaitsForServerWithoutShutdowns(t *testing.T) {
	cfg, log, _ := shutdownServer(t, hostile.ShutdownModeExit)
	c := mustNew(t, Options{Config: cfg})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !log.Has(hostile.EventCleanExit) {
		t.Errorf("Close returned before the server exited:\n%s", log)
	}
}

// With Shutdowns, Close returns as soon as the server's stdin is closed;
// the server takes its time, is never signalled for it, and Wait returns
// once it has exited on its own.
func TestCloseReturnsBeforeServerExits(t *testing.T) {
	cfg, log, release := shutdownServer(t, hostile.ShutdownModeLinger)
	var sh Shutdowns
	c := mustNew(t, Options{Config: cfg, Shutdowns: &sh})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, hostile.ShutdownQuickTool, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, log, hostile.EventEOF)
	if log.Has(hostile.EventCleanExit) {
		t.Fatalf("the server exited before it was released:\n%s", log)
	}
	release()
	if err := sh.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !log.Has(hostile.EventCleanExit) || log.Has(hostile.EventSIGTERM) {
		t.Errorf("Wait returned, but the server did not exit on its own:\n%s", log)
	}
}

// A canceled call's notifications/cancelled reaches the server before its
// stdin closes, even when Close follows at once (as after Ctrl-C): go-sdk
// sends the notice from a goroutine of its own.
func TestCanceledCallIsToldBeforeClose(t *testing.T) {
	cfg, log, release := shutdownServer(t, hostile.ShutdownModeLinger)
	release() // exits once it has read EOF
	var sh Shutdowns
	c := mustNew(t, Options{Config: cfg, Shutdowns: &sh})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	callCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.CallTool(callCtx, hostile.ShutdownSlowTool, nil, nil)
		done <- err
	}()
	waitEvent(t, log, hostile.EventCallStarted)
	cancel()
	if err := <-done; kindOf(t, err) != KindCanceled {
		t.Fatalf("the canceled call: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sh.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !log.Before(hostile.EventCancelNotice, hostile.EventEOF) {
		t.Errorf("the server should have read notifications/cancelled before EOF:\n%s", log)
	}
}

// Detach hands a server that ignores EOF to the watchdog, which sends it
// SIGTERM after the grace and removes its temp dir once it is gone; here
// nothing follows it any more.
func TestDetachedServerIgnoringEOFGetsSIGTERM(t *testing.T) {
	cfg, log, _ := shutdownServer(t, hostile.ShutdownModeIgnore)
	var sh Shutdowns
	c := mustNew(t, Options{Config: cfg, Shutdowns: &sh})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, log, hostile.EventEOF)
	if err := sh.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if len(sh.list()) != 0 {
		t.Errorf("Shutdowns still follows %d servers after Detach", len(sh.list()))
	}
	waitEvent(t, log, hostile.EventSIGTERM)
	if !log.Before(hostile.EventEOF, hostile.EventSIGTERM) {
		t.Errorf("SIGTERM before EOF:\n%s", log)
	}
	if tmp := log.Value(hostile.EventTmpDir); tmp != "" && c.Sandbox().Confined {
		deadline := time.Now().Add(eventWait)
		for {
			if _, err := os.Stat(tmp); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server's temp dir %s is still there", tmp)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
