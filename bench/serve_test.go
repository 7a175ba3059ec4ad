//go:build unix

package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	serveRatio  = flag.Bool("serve", false, "measure a call through `mediator serve --stdio` against the same call made directly over loopback HTTP (builds mediator unless -serve.bin)")
	serveRounds = flag.Int("serve.rounds", 200, "alternating rounds")
	serveBatch  = flag.Int("serve.batch", 20, "calls per batch")
	serveBin    = flag.String("serve.bin", "", "a mediator binary already built (ratio.sh builds one)")
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
// passphrase, keyed audit log, pins on disk. Only wall time is compared:
// mediator's CPU is spent in another process. It prints numbers and
// asserts nothing about time.
func TestServeRatio(t *testing.T) {
	if !*serveRatio {
		t.Skip("pass -serve (or run bench/ratio.sh) to measure")
	}
	bin := *serveBin
	if bin == "" {
		dir := filepath.Join(t.TempDir(), "bin")
		build(t, dir, "./cmd/mediator")
		bin = filepath.Join(dir, "mediator")
	}
	url := httpEndpoint(t)
	d := direct(t, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}})
	m := served(t, bin, url)
	dw, _, mw, _ := alternate(t, d, m, nil, *serveRounds, *serveBatch)
	ratio := pairedRatio(mw, dw)
	verdict := "within"
	if ratio > serveTarget {
		verdict = "OVER"
	}
	t.Logf("serve-stdio wall: direct over HTTP %6.1f µs, through mediator serve --stdio %6.1f µs, ratio %.3f | target ≤ %.2f (wall): %s",
		median(dw), median(mw), ratio, serveTarget, verdict)
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
