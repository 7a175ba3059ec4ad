//go:build unix

package worker_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mediator-temporal worker, as a process: it logs what it polls and
// holds, and SIGTERM stops it cleanly with the signal's exit code.
func TestWorkerProcessStopsOnSIGTERM(t *testing.T) {
	srv := server.Need(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := filepath.Join(t.TempDir(), "mediator-temporal")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/mediatorhq/mediator/cmd/mediator-temporal").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	stripe := startMCP(t, "stripe", stripeKey)
	n := newNode(t, "process", passPayments, "engine: temporal\ntemporal:\n  host_port: "+srv.HostPort+"\n  namespace: "+srv.Namespace+"\n"+
		"servers:\n  stripe:\n    url: "+stripe.URL+"\n    auth: {type: bearer, secret: token}\n"+
		"domains:\n  signalled: [stripe]\n")
	n.setSecret("stripe", "token", stripeKey)

	cmd := exec.Command(bin, "--config", n.cfg, "worker", "--domain", "signalled", "--flows")
	cmd.Env = []string{"HOME=" + n.dir, "XDG_STATE_HOME=" + filepath.Join(n.dir, "state"), "MEDIATOR_KEYRING_PASSPHRASE=" + n.passphrase}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var log []string
	read := func(until string) {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stderr ended before %q:\n%s", until, strings.Join(log, "\n"))
				}
				log = append(log, l)
				if strings.Contains(l, until) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q within a minute:\n%s", until, strings.Join(log, "\n"))
			}
		}
	}
	read(`msg="domain worker polling" domain=signalled queue=mcp.signalled servers=stripe identity=signalled@`)
	read(`msg="flow worker polling" queue=mediator.flows identity=flows@`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	read("interrupted")
	for range lines {
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d after SIGTERM, want %d:\n%s", code, 128+int(syscall.SIGTERM), strings.Join(log, "\n"))
	}
	all := strings.Join(log, "\n")
	for _, c := range canaries {
		if strings.Contains(all, c) {
			t.Errorf("the worker logged a secret:\n%s", all)
		}
	}
	if !strings.Contains(all, "Stopped Worker") {
		t.Errorf("the workers did not stop:\n%s", all)
	}
}
