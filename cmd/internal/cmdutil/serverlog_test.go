package cmdutil

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mediatorhq/mediator/credentials"
)

const logCanary = "canary-log-Zx8Wv2Qp5Ty7"

func newTestLog(t *testing.T, name string) (*ServerLog, *bytes.Buffer) {
	t.Helper()
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(logCanary))
	var out bytes.Buffer
	return NewServerLog(&sync.Mutex{}, &out, name, red), &out
}

func TestServerLogMasksWholeLines(t *testing.T) {
	l, out := newTestLog(t, "srv")
	// The secret arrives in three writes; masking waits for the line.
	for _, chunk := range []string{"first\r\nsecond: " + logCanary[:5], logCanary[5:12], logCanary[12:] + " ok\nthird", " part"} {
		if n, err := l.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := out.String(), "[srv] first\n[srv] second: [REDACTED] ok\n"; got != want {
		t.Errorf("before Close:\n got %q\nwant %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "[srv] first\n[srv] second: [REDACTED] ok\n[srv] third part\n"; got != want {
		t.Errorf("after Close:\n got %q\nwant %q", got, want)
	}
	// Closing again writes nothing more.
	_ = l.Close()
	if strings.Count(out.String(), "third") != 1 {
		t.Errorf("second Close repeated the line:\n%s", out.String())
	}
}

// A line longer than the bound is passed on in pieces; a secret at the
// place where a piece would end is kept whole in the next piece.
func TestServerLogSplitsOverlongLines(t *testing.T) {
	l, out := newTestLog(t, "srv")
	length := maxLogLine + 10_000
	line := strings.Repeat("x", length-logLineKeep-10) + logCanary + strings.Repeat("y", logLineKeep+10-len(logCanary))
	// Without its newline yet, the line cannot be kept whole.
	l.Write([]byte(line))
	l.Write([]byte("\nnext\n"))
	got := out.String()
	if strings.Contains(got, logCanary[:8]) {
		t.Fatal("part of the secret was written")
	}
	pieces := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(pieces) != 3 || pieces[2] != "[srv] next" {
		t.Fatalf("want two pieces and the next line, got %d lines", len(pieces))
	}
	if !strings.HasSuffix(pieces[0], "…") || !strings.HasPrefix(pieces[1], "[srv] ") || !strings.Contains(pieces[1], "[REDACTED]") {
		t.Errorf("pieces: %.40q… (%d bytes), %.40q…", pieces[0], len(pieces[0]), pieces[1])
	}
	joined := strings.TrimSuffix(strings.TrimPrefix(pieces[0], "[srv] "), "…") + strings.TrimPrefix(pieces[1], "[srv] ")
	if want := strings.Replace(line, logCanary, "[REDACTED]", 1); joined != want {
		t.Errorf("the pieces do not add up to the masked line")
	}
}

// Servers sharing a destination write whole lines, never interleaved.
func TestServerLogsShareTheDestination(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	red := credentials.NewRedactor()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		l := NewServerLog(&mu, &out, name, red)
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(l, "line %d ", i)
				fmt.Fprintf(l, "of %s\n", name)
			}
		})
	}
	wg.Wait()
	whole := regexp.MustCompile(`^\[(a|b)\] line \d+ of (a|b)$`)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, line := range lines {
		if m := whole.FindStringSubmatch(line); m == nil || m[1] != m[2] {
			t.Fatalf("mixed line %q", line)
		}
	}
	if len(lines) != 400 {
		t.Errorf("%d lines, want 400", len(lines))
	}
}
