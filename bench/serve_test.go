//go:build unix

package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	serveRatio  = flag.Bool("serve", false, "measure a call through `mediator serve --stdio` against the same call made directly over loopback HTTP (builds mediator and stdioserver unless -serve.bin)")
	serveRounds = flag.Int("serve.rounds", 100, "alternating rounds per comparison")
	serveBatch  = flag.Int("serve.batch", 20, "calls per batch")
	serveBins   = flag.String("serve.bin", "", "a directory holding mediator and stdioserver already built (ratio.sh builds them)")
	serveGOGC   = flag.String("serve.gogc", "", "GOGC for the mediator process alone (default: Go's), to see what its garbage collection costs")
)

// serveTarget is the most a call through `mediator serve --stdio` may
// cost, as a multiple of the same call made directly over loopback HTTP:
// the extra hop is one stdio round trip, plus the gateway's policy, pin
// check, validation and audit record.
const serveTarget = 1.5

// TestServeRatio measures what a host sees when it puts mediator in the
// middle: a go-sdk client calls a tool through the real `mediator serve
// --stdio` binary (mcp.CommandTransport), which calls the backend server
// over loopback streamable HTTP; the direct side is a go-sdk client
// calling the same tool on the same backend over loopback HTTP. Batches
// alternate in one process (see TestRatio), so load from other processes
// hits both sides alike; the number is the median of the per-round
// ratios. mediator runs as a user runs it: file keyring with a
// passphrase, keyed audit log, pins on disk. The backend runs in a process
// of its own, as a real HTTP server does, and, for comparison, in the test
// process beside the direct client. For scale it also times the
// extra hop alone: the same call on a bare go-sdk stdio server
// (bench/stdioserver) in a process of its own, against the same direct
// call; and the floor of any stdio gateway built on go-sdk, a bare go-sdk
// proxy (bench/stdioproxy: stdio server in, streamable HTTP client out,
// nothing in between), against the direct call and against mediator.
// Only wall time is compared: mediator's CPU is spent in another
// process. It prints numbers and asserts nothing about time.
func TestServeRatio(t *testing.T) {
	if !*serveRatio {
		t.Skip("pass -serve (or run bench/ratio.sh) to measure")
	}
	bins := *serveBins
	if bins == "" {
		bins = filepath.Join(t.TempDir(), "bin")
		build(t, bins, "./cmd/mediator")
		build(t, bins, "./bench/stdioserver")
		build(t, bins, "./bench/stdioproxy")
	}
	stdioserver := filepath.Join(bins, "stdioserver")
	stdioproxy := filepath.Join(bins, "stdioproxy")
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{
		// A real HTTP server runs in a process of its own; so does mediator.
		{"own-process", httpBackendProcess},
		// The direct client and the backend share this process and
		// talk without a context switch between processes.
		{"in-process", httpEndpoint},
	} {
		url := backend.url(t)
		d := direct(t, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}})
		m := served(t, filepath.Join(bins, "mediator"), url)
		hop := direct(t, &mcp.CommandTransport{Command: exec.Command(stdioserver)})
		proxy := direct(t, &mcp.CommandTransport{Command: exec.Command(stdioproxy, url)})

		dw, _, mw, _ := alternate(t, d, m, nil, *serveRounds, *serveBatch)
		ratio := pairedRatio(mw, dw)
		verdict := "within"
		if ratio > serveTarget {
			verdict = "OVER"
		}
		hdw, _, hw, _ := alternate(t, d, hop, nil, *serveRounds, *serveBatch)
		t.Logf("serve-stdio %-11s backend wall: direct over HTTP %6.1f µs, through mediator serve --stdio %6.1f µs, ratio %.3f | target ≤ %.2f (wall): %s",
			backend.name, median(dw), median(mw), ratio, serveTarget, verdict)
		t.Logf("stdio-hop   %-11s backend wall: direct over HTTP %6.1f µs, a bare go-sdk stdio server %6.1f µs, ratio %.3f (the extra hop alone, for scale)",
			backend.name, median(hdw), median(hw), pairedRatio(hw, hdw))
		pdw, _, pw, _ := alternate(t, d, proxy, nil, *serveRounds, *serveBatch)
		t.Logf("bare-proxy  %-11s backend wall: direct over HTTP %6.1f µs, through a bare go-sdk proxy %6.1f µs, ratio %.3f (the floor of a go-sdk stdio gateway)",
			backend.name, median(pdw), median(pw), pairedRatio(pw, pdw))
		ppw, _, pmw, _ := alternate(t, proxy, m, nil, *serveRounds, *serveBatch)
		t.Logf("over-proxy  %-11s backend wall: a bare go-sdk proxy %6.1f µs, through mediator serve --stdio %6.1f µs, ratio %.3f (what mediator adds to the floor)",
			backend.name, median(ppw), median(pmw), pairedRatio(pmw, ppw))
	}
}

// backendEnv makes this test binary the HTTP backend of TestServeRatio
// (TestHelperHTTPBackend).
const backendEnv = "MEDIATOR_BENCH_HTTP_BACKEND"

// TestHelperHTTPBackend is not a test: run by httpBackendProcess with
// backendEnv set, it serves the bench's server (newServer) over loopback
// streamable HTTP, prints its URL and serves until stdin closes.
func TestHelperHTTPBackend(t *testing.T) {
	if os.Getenv(backendEnv) == "" {
		t.Skip("the HTTP backend process of TestServeRatio")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer()
	go http.Serve(ln, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// httpBackendProcess starts the bench's server over loopback HTTP in a
// process of its own (this test binary as TestHelperHTTPBackend) and
// returns its URL; it stops when the test ends.
func httpBackendProcess(tb testing.TB) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHTTPBackend$")
	cmd.Env = append(os.Environ(), backendEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("the HTTP backend process printed no URL: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	return strings.TrimSpace(line)
}

// served starts `mediator serve --stdio` offering the server at url as
// weather (gateway, prefixed: weather__get_forecast), connects a go-sdk
// client to it as a host would, lists the tools and makes a first call
// (which pins the tool) outside any timing.
func served(tb testing.TB, bin, url string) caller {
	home := tb.TempDir()
	cfg := filepath.Join(home, "config.yaml")
	config := fmt.Sprintf(`credentials:
  backend: file
  file_dir: %s
servers:
  weather:
    url: %s
serve:
  tools: gateway
  servers: [weather]
`, filepath.Join(home, "keyring"), url)
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg, "serve", "--stdio")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"MEDIATOR_KEYRING_PASSPHRASE=bench-passphrase",
	}
	if *serveGOGC != "" {
		cmd.Env = append(cmd.Env, "GOGC="+*serveGOGC)
	}
	// A file, not a buffer: the process writes it while the test reads.
	stderr, err := os.Create(filepath.Join(home, "stderr"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stderr.Close() })
	cmd.Stderr = stderr
	logs := func() string {
		b, _ := os.ReadFile(stderr.Name())
		return string(b)
	}
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench-host"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).
		Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		tb.Fatalf("connect to mediator serve --stdio: %v\nstderr:\n%s", err, logs())
	}
	tb.Cleanup(func() { cs.Close() })
	if _, err := cs.ListTools(ctx, nil); err != nil {
		tb.Fatalf("tools/list through mediator serve: %v\nstderr:\n%s", err, logs())
	}
	call := func(ctx context.Context) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "weather__get_forecast", Arguments: args()})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %v", res.Content)
		}
		return err
	}
	if err := call(ctx); err != nil {
		tb.Fatalf("first call through mediator serve: %v\nstderr:\n%s", err, logs())
	}
	return call
}
