package prompter

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// terminal is a Terminal that reads the given lines as a user would type
// them (huh's line-by-line mode reads one line per prompt) and writes to
// the returned buffer.
func terminal(lines ...string) (*Terminal, *bytes.Buffer) {
	var out bytes.Buffer
	in := iotest.OneByteReader(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	return &Terminal{In: in, Out: &out, Interactive: true, Accessible: true}, &out
}

func formRequest(schema map[string]any) *connectors.ElicitationRequest {
	return &connectors.ElicitationRequest{Server: "shop", Params: &mcp.ElicitParams{Message: "Your order\x1b]52;c;ZXZpbA==\x07 details", RequestedSchema: schema}}
}

var orderSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"name":     map[string]any{"type": "string", "default": "Ada"},
		"quantity": map[string]any{"type": "integer", "minimum": 1, "maximum": 10, "default": 2},
		"gift":     map[string]any{"type": "boolean", "default": true},
		"size":     map[string]any{"type": "string", "enum": []any{"S", "M", "L"}, "default": "M"},
	},
	"required": []any{"quantity"},
}

// Every field starts at the schema's default: accepting them all sends
// the defaults, after the user saw the answer and chose to send it. The
// server's message is shown without its escape sequence.
func TestFormPrefillsDefaults(t *testing.T) {
	// Answer; quantity, gift, name, size left as they are; Send.
	term, out := terminal("1", "", "", "", "", "1")
	res, err := term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != "accept" {
		t.Fatalf("action %q; output:\n%s", res.Action, out)
	}
	want := map[string]any{"name": "Ada", "quantity": int64(2), "gift": true, "size": "M"}
	for k, v := range want {
		if res.Content[k] != v && !(k == "quantity" && res.Content[k] == float64(2)) {
			t.Errorf("%s = %#v, want %#v (content %v)", k, res.Content[k], v, res.Content)
		}
	}
	if !strings.Contains(out.String(), "server shop asks: Your order details") || strings.Contains(out.String(), "\x1b]52") {
		t.Errorf("output does not name the server with its message made safe:\n%q", out.String())
	}
}

// An answer that fails the schema is never returned: the user is told
// why and asked again; after too many tries the request is canceled.
func TestFormAnswerFailingSchemaIsNotSent(t *testing.T) {
	// Answer; quantity 99 (over the maximum), three times.
	lines := []string{"1"}
	for range maxEdits {
		lines = append(lines, "99", "", "", "")
	}
	term, out := terminal(lines...)
	res, err := term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != "cancel" || res.Content != nil {
		t.Fatalf("result %+v; want cancel without content", res)
	}
	if !strings.Contains(out.String(), "the answer does not fit the form") {
		t.Errorf("the user was not told why:\n%s", out)
	}

	// Corrected on the second try, it is sent.
	term, _ = terminal("1", "99", "", "", "", "3", "", "", "", "1")
	res, err = term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil || res.Action != "accept" || res.Content["quantity"] != int64(3) {
		t.Fatalf("corrected answer: %+v, %v", res, err)
	}
}

// Declining at the first question sends nothing.
func TestFormDecline(t *testing.T) {
	term, _ := terminal("2")
	res, err := term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil || res.Action != "decline" || res.Content != nil {
		t.Fatalf("%+v, %v", res, err)
	}
}

// Without a terminal every request is declined, and the user is told.
func TestNoTerminalDeclines(t *testing.T) {
	var out bytes.Buffer
	term := &Terminal{In: strings.NewReader("1\n"), Out: &out}
	res, err := term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil || res.Action != "decline" {
		t.Fatalf("%+v, %v", res, err)
	}
	if !strings.Contains(out.String(), "server shop asked for input") || !strings.Contains(out.String(), "declined") {
		t.Errorf("output %q", out.String())
	}
	term.Progress(connectors.Progress{Server: "shop", Progress: 1, Total: 2})
	if strings.Contains(out.String(), "50%") {
		t.Error("a progress line without a terminal")
	}
}

// A URL request shows the whole URL and its domain, warns of punycode,
// and is never opened: accepting is the user's consent only.
func TestURLModeShowsURL(t *testing.T) {
	const link = "https://xn--pple-43d.com/login?session=abc"
	term, out := terminal("1")
	res, err := term.Elicit(context.Background(), &connectors.ElicitationRequest{Server: "bank",
		Params: &mcp.ElicitParams{Mode: "url", Message: "Log in", URL: link, ElicitationID: "e1"}})
	if err != nil || res.Action != "accept" || res.Content != nil {
		t.Fatalf("%+v, %v", res, err)
	}
	got := out.String()
	for _, want := range []string{"server bank asks you to open a web page: Log in", link, "domain: \x1b[1mxn--pple-43d.com\x1b[0m", "punycode", "mediator does not open it"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	term, _ = terminal("1")
	res, _ = term.Elicit(context.Background(), &connectors.ElicitationRequest{Server: "bank",
		Params: &mcp.ElicitParams{Mode: "url", Message: "run", URL: "javascript:alert(1)"}})
	if res.Action != "decline" {
		t.Errorf("a non-web URL: %+v", res)
	}
}

// The progress line names the server, shows a percentage and the
// server's message made safe, and is cleared before a prompt.
func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	term := &Terminal{Out: &out, Interactive: true}
	term.Progress(connectors.Progress{Server: "build", Progress: 3, Total: 4, Message: "linking\x1b[2J now"})
	if got := out.String(); got != "\r\x1b[Kbuild: 75% linking now" {
		t.Errorf("line %q", got)
	}
	term.ClearProgress()
	if !strings.HasSuffix(out.String(), "\r\x1b[K") {
		t.Errorf("not cleared: %q", out.String())
	}
}

// AcceptDefaults, the headless front end, sends the schema's defaults;
// a form whose defaults leave a required field empty is declined.
func TestAcceptDefaults(t *testing.T) {
	optional := map[string]any{"type": "object", "properties": orderSchema["properties"]}
	res, err := AcceptDefaults(context.Background(), formRequest(optional))
	if err != nil || res.Action != "accept" || res.Content["name"] != "Ada" || res.Content["size"] != "M" || res.Content["gift"] != true {
		t.Fatalf("%+v, %v", res, err)
	}
	res, err = AcceptDefaults(context.Background(), formRequest(orderSchema))
	if err != nil || res.Action != "decline" {
		t.Fatalf("required field without a value: %+v, %v", res, err)
	}
}

// A secret mediator knows never shows in a prompt or the progress line,
// whichever of the server's texts holds it.
func TestPromptsMaskSecrets(t *testing.T) {
	const canary = "canary-prompt-e41b"
	schema := map[string]any{"type": "object", "properties": map[string]any{
		"x": map[string]any{"type": "string", "title": "key " + canary, "description": "paste " + canary},
	}}
	term, out := terminal("1", "typed", "1")
	term.Redact = strings.NewReplacer(canary, "***").Replace
	req := formRequest(schema)
	req.Params.Message = "need " + canary
	if _, err := term.Elicit(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	term.Progress(connectors.Progress{Server: "shop", Progress: 1, Message: "using " + canary})
	if strings.Contains(out.String(), canary) || !strings.Contains(out.String(), "need ***") {
		t.Errorf("output:\n%s", out)
	}
}

// While another view holds the terminal, a server's question is declined
// without a word drawn over that view, and progress is not shown.
func TestHoldDeclinesQuietly(t *testing.T) {
	term, out := terminal("1", "", "", "", "", "1")
	release := term.Hold()
	res, err := term.Elicit(context.Background(), formRequest(orderSchema))
	term.Progress(connectors.Progress{Server: "shop", Progress: 1, Total: 2})
	if err != nil || res.Action != "decline" || out.Len() != 0 {
		t.Fatalf("held: %+v, %v, output %q", res, err, out.String())
	}
	release()
	release() // a second release is a no-op
	res, err = term.Elicit(context.Background(), formRequest(orderSchema))
	if err != nil || res.Action != "accept" {
		t.Fatalf("released: %+v, %v", res, err)
	}
}
