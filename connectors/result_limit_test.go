package connectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// floodServerEnv makes the test binary, started with
// -test.run=^TestFloodServerProcess$, serve hostile.NewFloodServer over
// stdio; its value is FloodOptions.ToolListBytes, then
// FloodOptions.InstructionsBytes, comma-separated.
const floodServerEnv = "MEDIATOR_TEST_FLOOD_SERVER"

// TestFloodServerProcess is not a test: it is the hostile stdio server of
// the tests below, in a child process of the test binary.
func TestFloodServerProcess(t *testing.T) {
	v, ok := os.LookupEnv(floodServerEnv)
	if !ok {
		return
	}
	var opts hostile.FloodOptions
	list, instr, _ := strings.Cut(v, ",")
	opts.ToolListBytes, _ = strconv.ParseInt(list, 10, 64)
	opts.InstructionsBytes, _ = strconv.ParseInt(instr, 10, 64)
	if err := hostile.ServeFloodStdio(context.Background(), os.Stdin, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "flood server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// floodStdioConfig starts this test binary as the hostile stdio server.
func floodStdioConfig(t *testing.T, limit int64, opts hostile.FloodOptions) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Name:           "weather",
		Command:        exe,
		Args:           []string{"-test.run=^TestFloodServerProcess$"},
		Env:            map[string]string{floodServerEnv: fmt.Sprintf("%d,%d", opts.ToolListBytes, opts.InstructionsBytes)},
		Timeout:        60 * time.Second,
		MaxResultBytes: limit,
	}
}

// fastReconnect keeps the tests' reconnects short.
var fastReconnect = Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}

// memUse is what the process's heap did while a function ran.
type memUse struct {
	alloc uint64 // bytes allocated meanwhile (TotalAlloc), garbage included
	peak  uint64 // the most HeapInuse rose above where it started, sampled every millisecond
}

func (m memUse) String() string {
	return fmt.Sprintf("allocated %.1f MiB, heap in use peaked %.1f MiB above the start", float64(m.alloc)/(1<<20), float64(m.peak)/(1<<20))
}

func measureMem(f func()) memUse {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop, peakc := make(chan struct{}), make(chan uint64)
	go func() {
		peak := before.HeapInuse
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				peakc <- peak
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	peak := <-peakc
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return memUse{alloc: after.TotalAlloc - before.TotalAlloc, peak: peak - before.HeapInuse}
}

// hugeResult is the size of the flood a hostile server answers with: far
// more than any limit, and than the memory the call may take.
const hugeResult = 300_000_000

// checkTooLarge checks that err is the clear refusal of a message over
// limit bytes, during op.
func checkTooLarge(t *testing.T, err error, op, limitText string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", op)
	}
	if k := kindOf(t, err); k != KindTooLarge {
		t.Fatalf("%s: kind %s, want %s: %v", op, k, KindTooLarge, err)
	}
	for _, want := range []string{`server "weather"`, op, "more than " + limitText, "max_result_bytes", "raise"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error does not say %q: %v", op, want, err)
		}
	}
}

// A stdio server that answers with 300 MB fails the call with a clear
// error after mediator has read no more than the limit, and the very next
// call works on a new session.
func TestStdioResultOverLimit(t *testing.T) {
	const limit = 1 << 20
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: floodStdioConfig(t, limit, hostile.FloodOptions{}), Reconnect: fastReconnect})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}

	// Within the limit, a result arrives whole.
	res, err := c.CallTool(ctx, "flood", map[string]any{"bytes": limit - 4096}, nil)
	if err != nil {
		t.Fatalf("a result within the limit: %v", err)
	}
	if n := len(resultText(t, res)); n != limit-4096 {
		t.Fatalf("a result within the limit arrived with %d bytes, want %d", n, limit-4096)
	}

	mem := measureMem(func() {
		_, err = c.CallTool(ctx, "flood", map[string]any{"bytes": hugeResult}, nil)
	})
	t.Logf("stdio, a %d-byte result against a limit of %d: %v; %v", hugeResult, limit, err, mem)
	checkTooLarge(t, err, `call tool "flood"`, "1 MiB")
	checkMem(t, mem, limit)

	res, err = c.CallTool(ctx, "echo", map[string]any{"message": "still here"}, nil)
	if err != nil {
		t.Fatalf("the call after the refused one: %v", err)
	}
	if got := resultText(t, res); got != "echo: still here" {
		t.Errorf("echo returned %q", got)
	}
}

// checkMem fails when a refused message took more memory than a few times
// the limit (json.Decoder doubles its buffer while a message grows; go-sdk
// copies what it read) plus what a call and a reconnect take anyway.
func checkMem(t *testing.T, m memUse, limit int64) {
	t.Helper()
	bound := uint64(8*limit + 16<<20)
	if m.alloc > bound {
		t.Errorf("the refused result took %v; want under %.0f MiB allocated: it was read whole, not refused as it arrived", m, float64(bound)/(1<<20))
	}
}

// The same over loopback HTTP, for each way a response carries messages:
// an application/json body, an event stream answering a POST, and the
// legacy SSE transport's one stream.
func TestHTTPResultOverLimit(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name      string
		transport string
		json      bool
	}{
		{"streamable-json", TransportStreamableHTTP, true},
		{"streamable-sse", TransportStreamableHTTP, false},
		{"legacy-sse", TransportSSE, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := hostile.FloodOptions{JSONResponse: tc.json}
			h := hostile.FloodHandler(opts)
			if tc.transport == TransportSSE {
				h = hostile.FloodSSEHandler(opts)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			c := mustNew(t, Options{
				Config:    Config{Name: "weather", URL: srv.URL, Transport: tc.transport, Timeout: 60 * time.Second, MaxResultBytes: limit},
				Reconnect: fastReconnect,
			})
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			res, err := c.CallTool(ctx, "flood", map[string]any{"bytes": limit - 4096}, nil)
			if err != nil {
				t.Fatalf("a result within the limit: %v", err)
			}
			if n := len(resultText(t, res)); n != limit-4096 {
				t.Fatalf("a result within the limit arrived with %d bytes", n)
			}

			mem := measureMem(func() {
				_, err = c.CallTool(ctx, "flood", map[string]any{"bytes": hugeResult}, nil)
			})
			t.Logf("%s, a %d-byte result against a limit of %d: %v; %v", tc.name, hugeResult, limit, err, mem)
			checkTooLarge(t, err, `call tool "flood"`, "1 MiB")
			checkMem(t, mem, limit)

			res, err = c.CallTool(ctx, "echo", map[string]any{"message": "still here"}, nil)
			if err != nil {
				t.Fatalf("the call after the refused one: %v", err)
			}
			if got := resultText(t, res); got != "echo: still here" {
				t.Errorf("echo returned %q", got)
			}
		})
	}
}

// The limit applies to every message from the server, not only results: a
// tools/list page, a notification sent during a call, a JSON-RPC error,
// the initialize result.
func TestOtherMessagesOverLimit(t *testing.T) {
	const limit, flood = 64 << 10, 4 << 20
	t.Run("tools/list", func(t *testing.T) {
		ctx := testCtx(t)
		c := mustNew(t, Options{Config: floodStdioConfig(t, limit, hostile.FloodOptions{ToolListBytes: flood}), Reconnect: fastReconnect})
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("Connect: %v", err)
		}
		_, err := c.ListTools(ctx)
		checkTooLarge(t, err, "list tools", "64 KiB")
	})
	t.Run("initialize", func(t *testing.T) {
		ctx := testCtx(t)
		c := mustNew(t, Options{Config: floodStdioConfig(t, limit, hostile.FloodOptions{InstructionsBytes: flood}), Reconnect: fastReconnect})
		checkTooLarge(t, c.Connect(ctx), "connect", "64 KiB")
	})
	for _, tool := range []string{"flood_notify", "flood_error"} {
		t.Run(tool, func(t *testing.T) {
			ctx := testCtx(t)
			c := mustNew(t, Options{Config: floodStdioConfig(t, limit, hostile.FloodOptions{}), Reconnect: fastReconnect})
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			_, err := c.CallTool(ctx, tool, map[string]any{"bytes": flood}, nil)
			checkTooLarge(t, err, fmt.Sprintf("call tool %q", tool), "64 KiB")
			// Just under the limit, the same message is fine.
			res, err := c.CallTool(ctx, tool, map[string]any{"bytes": limit - 1024}, nil)
			if tool == "flood_notify" && (err != nil || resultText(t, res) != "done") {
				t.Errorf("a notification within the limit: %v", err)
			}
			if tool == "flood_error" && (err == nil || kindOf(t, err) != KindProtocol) {
				t.Errorf("an error within the limit: want a protocol error, got %v", err)
			}
		})
	}
	t.Run("notification over streamable HTTP", func(t *testing.T) {
		ctx := testCtx(t)
		srv := httptest.NewServer(hostile.FloodHandler(hostile.FloodOptions{}))
		t.Cleanup(srv.Close)
		c := mustNew(t, Options{Config: Config{Name: "weather", URL: srv.URL, MaxResultBytes: limit}, Reconnect: fastReconnect})
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("Connect: %v", err)
		}
		_, err := c.CallTool(ctx, "flood_notify", map[string]any{"bytes": flood}, nil)
		checkTooLarge(t, err, `call tool "flood_notify"`, "64 KiB")
	})
}

// While a session reconnects after a refused message, its status says why.
func TestOverLimitStatus(t *testing.T) {
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: floodStdioConfig(t, 64<<10, hostile.FloodOptions{}), Reconnect: Backoff{Initial: time.Hour, Max: time.Hour}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	_, err := c.CallTool(ctx, "flood", map[string]any{"bytes": 1 << 20}, nil)
	checkTooLarge(t, err, `call tool "flood"`, "64 KiB")
	st := c.Status()
	if st.State != StateConnecting || st.Err == nil || kindOf(t, st.Err) != KindTooLarge {
		t.Fatalf("status after the refused result: %+v", st)
	}
	// The next call waits for the new session instead of finding the old.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.CallTool(short, "echo", map[string]any{"message": "x"}, nil)
	if k := kindOf(t, err); k != KindTimeout || !strings.Contains(err.Error(), "still connecting") {
		t.Errorf("a call during the reconnect: %v", err)
	}
}

// The framing of each kind of stream, at the limit's edge: a message of
// exactly the limit passes and one byte more fails, however the bytes are
// split into reads.
func TestLimitedReaderFraming(t *testing.T) {
	const limit = 64
	obj := func(size int) string { // a JSON object of exactly size bytes
		return `{"t":"` + strings.Repeat("x", size-8) + `"}`
	}
	event := func(size int, end string) string { // an event of exactly size bytes
		return "data: " + strings.Repeat("y", size-6-2*len(end)) + end + end
	}
	cases := []struct {
		name   string
		frame  framing
		stream string
		ok     bool
	}{
		{"json at the limit", jsonValues, obj(limit) + "\n" + obj(limit) + "\n", true},
		{"json over the limit", jsonValues, obj(limit) + "\n" + obj(limit+1) + "\n", false},
		{"json across lines is one message", jsonValues, "{\"a\":[\n" + strings.Repeat("1,\n", 30) + "1]}\n", false},
		{"json quotes and braces in strings", jsonValues, `{"t":"\"}}}\\\\"}` + "\n" + obj(limit) + "\n" + `{"u":"{[\"]}"}` + "\n", true},
		{"json escaped quote at the end", jsonValues, `{"t":"` + strings.Repeat(`\"`, 27) + `x"}` + obj(limit), true},
		{"json whitespace flood between messages", jsonValues, obj(10) + strings.Repeat("\n", limit+1) + obj(10), false},
		{"json whitespace between messages within bounds", jsonValues, obj(limit) + strings.Repeat(" \r\n\t", limit/4) + obj(limit), true},
		{"json a string that never ends", jsonValues, `{"t":"` + strings.Repeat("z", 2*limit), false},
		{"json a batch is one message", jsonValues, "[" + obj(31) + "," + obj(32) + "]", false},
		{"events lf at the limit", sseEvents, event(limit, "\n") + event(limit, "\n"), true},
		{"events lf over the limit", sseEvents, event(limit, "\n") + event(limit+1, "\n"), false},
		{"events crlf at the limit", sseEvents, event(limit, "\r\n") + event(limit, "\r\n"), true},
		{"events crlf over the limit", sseEvents, event(limit+1, "\r\n"), false},
		{"events cr at the limit", sseEvents, event(limit, "\r") + event(limit, "\r"), true},
		{"events many lines are one event", sseEvents, strings.Repeat("data: a\n", 9) + "\n", false},
		{"events comments count", sseEvents, strings.Repeat(": keepalive\r\n", 6) + "\r\n", false},
		{"whole at the limit", wholeStream, strings.Repeat("w", limit), true},
		{"whole over the limit", wholeStream, strings.Repeat("w", limit+1), false},
	}
	for _, tc := range cases {
		for _, split := range []struct {
			name string
			r    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"bytewise", iotest.OneByteReader}, {"halves", iotest.HalfReader}} {
			t.Run(tc.name+"/"+split.name, func(t *testing.T) {
				rule := &resultLimit{max: limit}
				r := newLimitedReader(split.r(strings.NewReader(tc.stream)), rule.session(), tc.frame)
				got, err := io.ReadAll(r)
				if tc.ok {
					if err != nil || string(got) != tc.stream {
						t.Fatalf("refused a stream within the limit: %v", err)
					}
					return
				}
				var tl *tooLargeError
				if !errors.As(err, &tl) {
					t.Fatalf("passed a stream over the limit: err %v, read %d bytes", err, len(got))
				}
				// At most the limit of the refused message got through,
				// after the messages before it (none over a limit's worth).
				if len(got) > 3*limit {
					t.Errorf("passed %d bytes before refusing", len(got))
				}
				if rule.trips.Load() != 1 {
					t.Errorf("trips = %d, want 1", rule.trips.Load())
				}
				// Every read after the refusal fails too.
				if n, err := r.Read(make([]byte, 8)); n != 0 || !errors.As(err, &tl) {
					t.Errorf("a read after the refusal: %d, %v", n, err)
				}
			})
		}
	}
}

func TestMaxResultBytesConfig(t *testing.T) {
	c := mustNew(t, Options{Config: Config{Name: "w", URL: "https://weather.example.com/mcp"}})
	if c.cfg.MaxResultBytes != DefaultMaxResultBytes || c.limit.max != DefaultMaxResultBytes {
		t.Errorf("default max_result_bytes: %d", c.cfg.MaxResultBytes)
	}
	_, err := New(Options{Config: Config{Name: "w", URL: "https://weather.example.com/mcp", MaxResultBytes: -1}})
	if err == nil || kindOf(t, err) != KindConfig || !strings.Contains(err.Error(), "max_result_bytes") {
		t.Errorf("a negative max_result_bytes: %v", err)
	}
}

// BenchmarkLimitedReader prices the limit on the hot path: every byte from
// a server passes through it before go-sdk decodes it. Each framing is
// measured against the same stream read without the limit, both through
// what reads it in production: go-sdk's stdio connection for JSON values
// (it decodes each into a message), the plain bytes for events and whole
// bodies (go-sdk's SSE scanner and io.ReadAll cost more than reading). The
// ratio limited/plain of each pair is the limit's cost.
func BenchmarkLimitedReader(b *testing.B) {
	// 256 typical results of about 1 KiB of text with escapes.
	msg := `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` +
		strings.Repeat(`forecast for Lisbon: sunny, 24\u00b0C, wind 10 km/h \"light\"\n`, 16) + `"}]}}`
	const count = 256
	var lines, events bytes.Buffer
	for range count {
		lines.WriteString(msg + "\n")
		events.WriteString("event: message\ndata: " + msg + "\n\n")
	}
	limited := func(r io.Reader, f framing) io.Reader {
		return newLimitedReader(r, (&resultLimit{max: DefaultMaxResultBytes}).session(), f)
	}
	plain := func(r io.Reader, _ framing) io.Reader { return r }
	decode := func(b *testing.B, wrap func(io.Reader, framing) io.Reader) {
		for b.Loop() {
			r := wrap(bytes.NewReader(lines.Bytes()), jsonValues)
			conn, err := (&mcp.IOTransport{Reader: io.NopCloser(r), Writer: nopWriteCloser{}, MaxLineLength: -1}).Connect(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			for range count {
				if _, err := conn.Read(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			conn.Close()
		}
	}
	read := func(data []byte, f framing, wrap func(io.Reader, framing) io.Reader) func(*testing.B) {
		return func(b *testing.B) {
			buf := make([]byte, 32<<10)
			for b.Loop() {
				r := wrap(bytes.NewReader(data), f)
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
			}
		}
	}
	b.Run("json/plain", func(b *testing.B) { b.SetBytes(int64(lines.Len())); decode(b, plain) })
	b.Run("json/limited", func(b *testing.B) { b.SetBytes(int64(lines.Len())); decode(b, limited) })
	b.Run("events/plain", read(events.Bytes(), sseEvents, plain))
	b.Run("events/limited", read(events.Bytes(), sseEvents, limited))
	b.Run("whole/plain", read(lines.Bytes(), wholeStream, plain))
	b.Run("whole/limited", read(lines.Bytes(), wholeStream, limited))
}

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }
