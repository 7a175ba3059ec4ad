//go:build linux

package bench

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mediatorhq/mediator/internal/testenv"
)

var (
	oneshot        = flag.Bool("oneshot", false, "measure one-shot `mediator call` against a bare go-sdk client (builds the binaries; needs `make tools` for the node server)")
	oneshotRounds  = flag.Int("oneshot.rounds", 150, "alternating rounds against the Go stdio server")
	oneshotNodeRnd = flag.Int("oneshot.node-rounds", 30, "alternating rounds against server-everything (node)")
	oneshotBins    = flag.String("oneshot.bin", "", "a directory holding mediator, bareclient and stdioserver already built (ratio.sh builds them)")
	oneshotOther   = flag.String("oneshot.compare", "", "another mediator binary (an older build) to time in the same rounds")
)

// TestOneShotRatio measures what a user sees: the wall time of one
// `mediator call` process, from exec to exit, against a bare go-sdk client
// process (bench/bareclient) that starts the same stdio server, lists its
// tools, makes the same call, prints the result and exits without waiting
// for the server to exit. Both leave the server to finish its shutdown
// after they exit; the test, a subreaper, waits for every leftover process
// (servers still exiting, mediator's watchdog) between runs and outside
// the timing, as a user reads the output meanwhile, so no run pays for
// the one before. Rounds rotate which side runs first; the per-round
// ratios' median cancels the load that drifts over seconds on a shared
// machine. mediator runs as a user
// runs it: file keyring with a passphrase, keyed audit log, pins on disk,
// sandbox on where the kernel has it. The CPU column is the client
// process's, with the server's when the client reaped it (mediator does
// when the server exits first). It prints numbers and asserts nothing
// about time.
func TestOneShotRatio(t *testing.T) {
	if !*oneshot {
		t.Skip("pass -oneshot (or run bench/ratio.sh) to measure")
	}
	// Servers left exiting and mediator's watchdog become this process's
	// children when their parent exits, for reapOrphans.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	bins := *oneshotBins
	if bins == "" {
		bins = filepath.Join(t.TempDir(), "bin")
		for _, pkg := range []string{"./cmd/mediator", "./bench/bareclient", "./bench/stdioserver"} {
			build(t, bins, pkg)
		}
	}
	mediator, bare, goServer := filepath.Join(bins, "mediator"), filepath.Join(bins, "bareclient"), filepath.Join(bins, "stdioserver")

	home := t.TempDir()
	node, everything := nodeServer(t)
	config := fmt.Sprintf(`credentials:
  backend: file
  file_dir: %s
servers:
  weather:
    command: %q
  everything:
    command: %q
    args: [%q, "stdio"]
`, filepath.Join(home, "keyring"), goServer, node, everything)
	cfgPath := filepath.Join(home, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=bench-passphrase",
	}
	for _, c := range []struct {
		name, server, tool, args string
		command                  []string
		rounds                   int
		target                   float64 // 0: none, only measured
	}{
		{"go-stdio", "weather", "get_forecast", `{"city":"Lisbon","days":3}`, []string{goServer}, *oneshotRounds, 0},
		{"node", "everything", "echo", `{"message":"hi"}`, []string{node, everything, "stdio"}, *oneshotNodeRnd, 1.05},
	} {
		// The bare client's server inherits what mediator gives its
		// servers, PATH and HOME: node starts a sixth faster without the
		// rest of a developer's environment.
		bareEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
		sides := []side{
			{name: "bare", argv: append([]string{bare, "-list", "-tool", c.tool, "-args", c.args, "--"}, c.command...), env: bareEnv},
			{name: "bare-nolist", argv: append([]string{bare, "-tool", c.tool, "-args", c.args, "--"}, c.command...), env: bareEnv},
			{name: "mediator", argv: []string{mediator, "--config", cfgPath, "call", c.server, c.tool, "--args", c.args}, env: env},
		}
		if *oneshotOther != "" {
			other := sides[2]
			other.name, other.argv = "compare", append([]string{*oneshotOther}, other.argv[1:]...)
			sides = append(sides, other)
		}
		for i := range sides {
			sides[i].run(t) // warm up; mediator pins the tools
			reapOrphans(t)
		}
		for r := range c.rounds {
			for i := range sides {
				sides[(i+r)%len(sides)].timed(t)
			}
		}
		b, nb, m := sides[0], sides[1], sides[2]
		ratio := pairedRatio(m.wall, b.wall)
		verdict := "no target"
		switch {
		case c.target == 0:
		case ratio <= c.target:
			verdict = fmt.Sprintf("target ≤ %.2f: within", c.target)
		default:
			verdict = fmt.Sprintf("target ≤ %.2f: OVER", c.target)
		}
		t.Logf("%-8s wall: bare %7.1f ms, bare without tools/list %7.1f ms, mediator %7.1f ms | ratio %.3f (%.3f against the bare client without tools/list) | %s | cpu: bare %5.1f ms, mediator %5.1f ms",
			c.name, median(b.wall), median(nb.wall), median(m.wall), ratio, pairedRatio(m.wall, nb.wall), verdict, median(b.cpu), median(m.cpu))
		if len(sides) > 3 {
			o := sides[3]
			t.Logf("%-8s compare: %s %7.1f ms, ratio %.3f against the bare client | this mediator against it: %.3f | cpu %5.1f ms",
				c.name, *oneshotOther, median(o.wall), pairedRatio(o.wall, b.wall), pairedRatio(m.wall, o.wall), median(o.cpu))
		}
	}
}

// side is one of the compared command lines and its per-run times in ms.
type side struct {
	name      string
	argv, env []string
	wall, cpu []float64
}

func (s *side) run(t *testing.T) (time.Duration, *os.ProcessState) {
	t.Helper()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	if s.env != nil {
		cmd.Env = s.env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil || stdout.Len() == 0 {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(s.argv, " "), err, stdout.String(), stderr.String())
	}
	return d, cmd.ProcessState
}

func (s *side) timed(t *testing.T) {
	d, ps := s.run(t)
	s.wall = append(s.wall, float64(d.Microseconds())/1e3)
	s.cpu = append(s.cpu, float64((ps.UserTime()+ps.SystemTime()).Microseconds())/1e3)
	reapOrphans(t)
}

// reapOrphans waits for every process left over from a run to exit.
func reapOrphans(t *testing.T) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ECHILD):
			return
		default:
			t.Fatal(err)
		}
	}
}

func build(t *testing.T, dir, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
}

// nodeServer is node and the script of server-everything from testdata/npm.
func nodeServer(t *testing.T) (node, script string) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	if len(args) == 0 {
		t.Fatalf("unexpected command line for server-everything: %s %v", command, args)
	}
	return command, args[0]
}
