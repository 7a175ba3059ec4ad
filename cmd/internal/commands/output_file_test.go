package commands_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
)

// pngBytes is binary data as a terminal must never get it: a PNG header
// followed by an escape (ESC, 8-bit CSI) and a NUL.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x1b]52;c;x\x07\x9b2J\xff")

// startMediaServer serves tools whose results hold binary content.
func startMediaServer(t *testing.T, secret string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "media", Version: "1"}, nil)
	tool := func(name string, content ...mcp.Content) {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: content}, nil
		})
	}
	tool("picture", &mcp.TextContent{Text: "a chart"}, &mcp.ImageContent{MIMEType: "image/png", Data: pngBytes})
	tool("sound", &mcp.AudioContent{MIMEType: "audio/wav", Data: []byte("RIFF\x00\x01wav")})
	tool("blob", &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///r.bin", MIMEType: "application/octet-stream", Blob: []byte{0, 1, 2, 0x1b}}})
	tool("two", &mcp.ImageContent{MIMEType: "image/png", Data: pngBytes}, &mcp.ImageContent{MIMEType: "image/png", Data: []byte("second")})
	tool("text", &mcp.TextContent{Text: "only text"})
	tool("leak", &mcp.ImageContent{MIMEType: "image/png", Data: append([]byte("\x89PNG key="), secret...)})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// `call -o FILE` saves a binary result as the server sent it; `-o -`
// writes it to stdout unchanged, but never to a terminal; bytes holding a
// stored secret are saved nowhere.
func TestCallSavesBinaryResults(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig("servers:\n  media:\n    url: " + startMediaServer(t, canaryKey) + "\n    auth: {type: bearer, secret: key}\n")
	e.mustRun(canaryKey, "secret", "set", "media", "key")
	dir := t.TempDir()
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	out := filepath.Join(dir, "chart.png")
	r := e.mustRun("", "call", "media", "picture", "-o", out)
	if !bytes.Equal(read(out), pngBytes) {
		t.Errorf("saved %q, want %q", read(out), pngBytes)
	}
	if !strings.Contains(r.stdout, "a chart\n[image: image/png, "+strconv.Itoa(len(pngBytes))+" bytes, saved to "+out+"]") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	for tool, want := range map[string][]byte{"sound": []byte("RIFF\x00\x01wav"), "blob": {0, 1, 2, 0x1b}} {
		p := filepath.Join(dir, tool)
		e.mustRun("", "call", "media", tool, "--output", p)
		if !bytes.Equal(read(p), want) {
			t.Errorf("%s: saved %q", tool, read(p))
		}
	}
	e.mustRun("", "call", "media", "two", "-o", filepath.Join(dir, "pair.png"))
	if !bytes.Equal(read(filepath.Join(dir, "pair-1.png")), pngBytes) || string(read(filepath.Join(dir, "pair-2.png"))) != "second" {
		t.Errorf("two images not saved to pair-1.png and pair-2.png")
	}

	// To stdout, unchanged, when it is not a terminal; the text goes to stderr.
	r = e.mustRun("", "call", "media", "picture", "-o", "-")
	if r.stdout != string(pngBytes) || !strings.Contains(r.stderr, "a chart") {
		t.Errorf("-o -: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	expectCode(t, e.run("", "call", "media", "two", "-o", "-"), cmdutil.ExitUsage, "two blocks to stdout")
	expectCode(t, e.run("", "call", "media", "picture", "-o", "-", "--json"), cmdutil.ExitUsage, "-o - with --json")

	// Without -o a binary result is summarized, never dumped.
	r = e.mustRun("", "call", "media", "picture")
	if strings.ContainsAny(r.stdout, "\x00\x1b") || strings.Contains(r.stdout, "PNG") || !strings.Contains(r.stdout, "[image: image/png, "+strconv.Itoa(len(pngBytes))+" bytes]") {
		t.Errorf("stdout: %q", r.stdout)
	}

	r = e.run("", "call", "media", "text", "-o", filepath.Join(dir, "none"))
	expectCode(t, r, cmdutil.ExitUsage, "-o of a text result")
	if r.stdout != "only text\n" || !strings.Contains(r.stderr, "nothing saved") {
		t.Errorf("text result with -o: %q %q", r.stdout, r.stderr)
	}
	leak := filepath.Join(dir, "leak.png")
	r = e.run("", "call", "media", "leak", "-o", leak)
	expectCode(t, r, cmdutil.ExitUsage, "a secret in the image")
	if _, err := os.Stat(leak); !os.IsNotExist(err) {
		t.Errorf("an image holding a secret was saved: %v", err)
	}

	// A terminal never gets binary data: refused before anything is sent.
	e.setup = func(f *cmdutil.Factory) { f.IOStreams.SetTTY(false, true, true) }
	r = e.run("", "call", "media", "picture", "-o", "-")
	expectCode(t, r, cmdutil.ExitUsage, "-o - on a terminal")
	if r.stdout != "" || !strings.Contains(r.stderr, "stdout is a terminal") {
		t.Errorf("-o - on a terminal: %q %q", r.stdout, r.stderr)
	}
}
