package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/serve"
)

// The web page's browser tests: headless Chromium (the Debian package
// chromium) against a real `mediator daemon` running real flows on
// go-sdk servers. One Chromium serves the whole package.

// screenshotsEnv, set to 1, makes TestWebUI write its screenshots to
// docs/screenshots (a flag would reach the daemon's command line).
const screenshotsEnv = "MEDIATOR_UI_SCREENSHOTS"

// canaryResult is a value a tool answers; with audit.include_values off
// no page may show it.
const canaryResult = "canary-ui-result-Zt7Qm2Wc"

// rainToken reaches only the rain-* workflows.
const rainToken = "mdt_test-token-for-rain-only"

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	stopTemporal()
	os.Exit(code)
}

// chromium finds the browser; under CI its absence fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; the web page's browser tests need it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the web page's browser tests need it")
	return ""
}

// tab opens a tab in a browser context of its own (its own cookies) of
// the package's one Chromium.
func tab(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
			chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Do(ctx)
	})
	if browser.err != nil {
		t.Fatalf("starting chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// shop is a go-sdk server over loopback HTTP without auth: quote answers
// canaryResult, fail is a tool error, book is an unsafe call whose first
// call waits until the daemon goes.
type shop struct {
	url         string
	books       atomic.Int32
	bookStarted chan struct{}
}

func newShop(t *testing.T) *shop {
	t.Helper()
	sh := &shop{bookStarted: make(chan struct{}, 4)}
	stop := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "shop", Version: "1.0.0"}, nil)
	type in struct {
		Item string `json:"item"`
	}
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(s, &mcp.Tool{Name: "quote", Annotations: ro}, func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "price for you: " + canaryResult}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Annotations: ro}, func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "card declined: " + canaryResult}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "book"}, func(ctx context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		if sh.books.Add(1) == 1 {
			sh.bookStarted <- struct{}{}
			select {
			case <-ctx.Done():
			case <-stop:
			}
			return nil, nil, errors.New("the booking never finished")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "booked " + a.Item}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // before Close, which waits for the call
	sh.url = srv.URL
	return sh
}

var uiFlows = map[string]string{
	// for_each items, then a step that waits for the test.
	"rain-fan": `version: 1
name: rain-fan
inputs:
  cities: {type: array, items: {type: string}, default: [Oslo, Bergen, Rome]}
steps:
  - id: greet
    for_each: ${ .inputs.cities }
    call: {server: echo, tool: echo}
    with: {text: ${ "rain in " + .item }}
  - id: wait
    needs: [greet]
    call: {server: echo, tool: hold}
    with: {text: done}
outputs:
  greeted: ${ [.steps.greet.items[] | .status] }
`,
	// a quote whose result holds canaryResult, then a tool error.
	"rain-fail": `version: 1
name: rain-fail
steps:
  - id: quote
    call: {server: shop, tool: quote}
    with: {item: umbrella}
  - id: pay
    needs: [quote]
    call: {server: shop, tool: fail}
    with: {item: umbrella}
`,
	// the keyring's canary given as an input and echoed into the outputs.
	"secret": `version: 1
name: secret
inputs:
  text: {type: string}
steps:
  - id: say
    call: {server: echo, tool: echo}
    with: {text: ${ .inputs.text }}
outputs:
  said: ${ .steps.say.text }
`,
	// an unsafe call: interrupted, the run waits for resolve.
	"book": `version: 1
name: book
steps:
  - id: book
    call: {server: shop, tool: book}
    with: {item: umbrella}
`,
}

// uiRig is a daemon with a run of each kind: a blocked booking, a
// failed rain-fail, a succeeded secret.
type uiRig struct {
	h                  *home
	shop               *shop
	r                  *running
	base               string
	book, fail, secret string
	screenshots        string
}

func newUIRig(t *testing.T) *uiRig {
	t.Helper()
	chromium(t)
	h := newHome(t)
	sh := newShop(t)
	for name, body := range uiFlows {
		if err := os.WriteFile(filepath.Join(h.dir, "flows", name+".flow.yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u := &uiRig{h: h, shop: sh}
	u.writeConfig(true)
	h.storeKey()

	// A booking interrupted by a stop without grace: after the restart
	// it waits for a decision.
	r := h.start("--grace", "0s")
	base := r.baseURL(t)
	u.book = submit(t, base, `{"workflow": "book"}`)
	<-sh.bookStarted
	r.stop(t)

	u.r = h.start()
	u.base = u.r.baseURL(t)
	t.Cleanup(func() {
		u.r.stop(t)
		// With audit.include_values off, the log names a failed run's
		// error class, not the message quoting the tool's answer.
		if strings.Contains(u.r.stderr.String(), canaryResult) {
			t.Errorf("the daemon logged a tool's answer:\n%s", u.r.stderr.String())
		}
	})
	if got := waitStatus(t, u.base, u.book, "blocked", "succeeded", "failed"); got != "blocked" {
		t.Fatalf("the interrupted booking is %s, want blocked\n%s", got, u.r.stderr.String())
	}
	u.fail = submit(t, u.base, `{"workflow": "rain-fail"}`)
	u.secret = submit(t, u.base, fmt.Sprintf(`{"workflow": "secret", "inputs": {"text": "hello %s"}}`, canaryKey))
	if got := waitStatus(t, u.base, u.fail, "succeeded", "failed"); got != "failed" {
		t.Fatalf("rain-fail is %s", got)
	}
	if got := waitStatus(t, u.base, u.secret, "succeeded", "failed"); got != "succeeded" {
		t.Fatalf("secret is %s", got)
	}
	u.screenshots = t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		u.screenshots = filepath.Join("..", "..", "..", "..", "docs", "screenshots")
	}
	return u
}

// writeConfig writes the config with the two servers and the ci token,
// and the rain token when rain is set.
func (u *uiRig) writeConfig(rain bool) {
	tokens := fmt.Sprintf("  api_tokens:\n  - {name: ci, token_sha256: %s, workflows: ['*']}\n", serve.HashToken(apiToken))
	if rain {
		tokens += fmt.Sprintf("  - {name: rain, token_sha256: %s, workflows: ['rain-*']}\n", serve.HashToken(rainToken))
	}
	u.h.writeServers(fmt.Sprintf("  shop:\n    url: %s\n", u.shop.url), tokens)
}

func submit(t *testing.T, base, body string) string {
	t.Helper()
	var sub struct{ ID string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, body, &sub); code/100 != 2 || sub.ID == "" {
		t.Fatalf("POST /v1/runs %s: %d", body, code)
	}
	return sub.ID
}

// login logs the tab in with token through the login page, coming from
// where a request without a session lands.
func (u *uiRig) login(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u.base+"/ui/runs"), chromedp.WaitVisible(css(`#token`))); err != nil {
		t.Fatalf("login: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#token`), token),
		chromedp.Click(css(`form[action="/ui/login"] button`)),
		chromedp.WaitVisible(css(`table.runs`)),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	if !strings.HasPrefix(loc, u.base+"/ui/login") {
		t.Errorf("without a session /ui/runs went to %s, want the login page", loc)
	}
}

// html is the tab's document, checked for every canary.
func (u *uiRig) html(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	doc := text(t, ctx, chromedp.OuterHTML(css("html")))
	u.noCanary(t, loc, doc)
	return doc
}

func (u *uiRig) noCanary(t *testing.T, where, text string) {
	t.Helper()
	for _, c := range []string{canaryKey, canaryPassphrase, canaryResult, apiToken, rainToken} {
		if strings.Contains(text, c) {
			t.Errorf("%s shows the secret %q", where, c)
		}
	}
}

// labelled checks that every form field of the tab's page has a label.
func (u *uiRig) labelled(t *testing.T, ctx context.Context) {
	t.Helper()
	bare, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(e => e.labels.length === 0).map(e => e.name || e.id)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(bare) > 0 {
		t.Errorf("form fields without a label: %v", bare)
	}
}

// shot saves the tab at desktop and phone width, checking that the phone
// layout does not scroll sideways.
func (u *uiRig) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, size := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size.w, size.h)); err != nil {
			t.Fatal(err)
		}
		scroll, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if scroll > size.w {
			t.Errorf("%s at %d px wide scrolls sideways (%d px)", name, size.w, scroll)
		}
		if err := os.WriteFile(filepath.Join(u.screenshots, name+"-"+size.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// inline finds what the page's Content-Security-Policy would refuse: a
// style attribute or element, a script without src, an event handler
// attribute, a javascript: URL.
var inline = regexp.MustCompile(`(?i)\sstyle=|<style|<script>|<script\s+[^>]*>[^<]|\son[a-z]+=|javascript:`)

// css is a CSS selector for the first element that matches.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// do runs browser steps, failing the test on an error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// text runs an action that reads a string.
func text(t *testing.T, ctx context.Context, a chromedp.Action[string]) string {
	t.Helper()
	s, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebUI(t *testing.T) {
	u := newUIRig(t)

	t.Run("login and scope", func(t *testing.T) {
		ctx := tab(t)
		do(t, ctx, "a wrong token",
			chromedp.Navigate(u.base+"/ui/login"),
			chromedp.SendKeys(css(`#token`), "not-a-token"),
			chromedp.Click(css(`form[action="/ui/login"] button`)),
			chromedp.WaitVisible(css(`#login-problem`)))
		if problem := text(t, ctx, chromedp.Text(css(`#login-problem`))); !strings.Contains(problem, "not one of the daemon's API tokens") {
			t.Errorf("a wrong token says %q", problem)
		}
		u.shot(t, ctx, "login")
		u.labelled(t, ctx)
		u.login(t, ctx, rainToken)
		u.labelled(t, ctx)
		// The keyboard: the first Tab reaches the skip link, the next ones
		// the navigation, each with a visible focus ring.
		for _, want := range []string{"Skip to the content", "mediator", "Runs"} {
			do(t, ctx, "Tab", chromedp.KeyEvent("\t"))
			focus, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.activeElement.textContent.trim(), getComputedStyle(document.activeElement).outlineStyle]`))
			if err != nil {
				t.Fatal(err)
			}
			if focus[0] != want || focus[1] == "none" {
				t.Errorf("Tab reached %q with outline %q, want %q with a visible outline", focus[0], focus[1], want)
			}
		}
		doc := u.html(t, ctx)
		if !strings.Contains(doc, u.fail) || strings.Contains(doc, u.secret) || strings.Contains(doc, u.book) {
			t.Errorf("the rain token's list does not show exactly the rain-* runs (%s, not %s or %s)", u.fail, u.secret, u.book)
		}
		for _, id := range []string{u.secret, u.book} {
			do(t, ctx, "another workflow's run", chromedp.Navigate(u.base+"/ui/runs/"+id))
			if doc := u.html(t, ctx); !strings.Contains(doc, "that your token (rain) can see") || strings.Contains(doc, "<dl") {
				t.Errorf("the rain token opened run %s", id)
			}
		}
	})

	t.Run("the list follows a run", func(t *testing.T) {
		ctx := tab(t)
		u.login(t, ctx, apiToken)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
			t.Fatal(err)
		}
		id := submit(t, u.base, `{"workflow": "rain-fan"}`)
		row := `tr[data-run="` + id + `"]`
		do(t, ctx, "the new run shows running", chromedp.WaitVisible(css(row+`[data-status="running"]`)))
		<-u.h.started
		u.shot(t, ctx, "runs")
		// A second tab of the session follows the run's own page.
		runTab, cancelRun := chromedp.NewContext(ctx)
		defer cancelRun()
		do(t, runTab, "the run's page shows it running",
			chromedp.Navigate(u.base+"/ui/runs/"+id),
			chromedp.WaitVisible(css(`#run-status .status-running`)),
			chromedp.WaitVisible(css(`tr[data-step="wait"][data-status="running"]`)))
		if _, err := chromedp.Run(runTab, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
			t.Fatal(err)
		}
		// The keyboard focus on another run's link stays through the update.
		do(t, ctx, "focus another run", chromedp.Focus(css(`tr[data-run="`+u.fail+`"] a`)))
		close(u.h.release)
		do(t, ctx, "the list shows it succeeded", chromedp.WaitVisible(css(row+`[data-status="succeeded"]`)))
		if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.closest("tr") ? document.activeElement.closest("tr").dataset.run : ""`)); err != nil || focused != u.fail {
			t.Errorf("the update moved the keyboard focus from run %s's link to %q (%v)", u.fail, focused, err)
		}
		do(t, runTab, "the run's page shows it succeeded",
			chromedp.WaitVisible(css(`#run-status .status-succeeded`)),
			chromedp.WaitVisible(css(`svg g.step[data-step="wait"][data-status="succeeded"]`)))
		for _, tb := range []context.Context{ctx, runTab} {
			if still, err := chromedp.Run(tb, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !still {
				t.Errorf("a page was reloaded to show the change (%v)", err)
			}
		}
		if said := text(t, ctx, chromedp.TextContent(css(`#announce`))); !strings.Contains(said, id+" of rain-fan is now succeeded") {
			t.Errorf("the list's live region said %q", said)
		}
		if said := text(t, runTab, chromedp.TextContent(css(`#announce`))); !strings.Contains(said, "The run is now succeeded") {
			t.Errorf("the run's live region said %q", said)
		}
		do(t, ctx, "open the run", chromedp.Click(css(row+` a`)), chromedp.WaitVisible(css(`tr[data-step="greet"]`)))
		if items := text(t, ctx, chromedp.Text(css(`tr[data-step="greet"] td[data-label="Items"]`))); strings.TrimSpace(items) != "3: 3 succeeded" {
			t.Errorf("greet's items: %q, want 3: 3 succeeded", items)
		}
		u.html(t, ctx)
		u.shot(t, ctx, "run")
	})

	t.Run("a failed run shows its step and error", func(t *testing.T) {
		ctx := tab(t)
		u.login(t, ctx, apiToken)
		do(t, ctx, "open the failed run", chromedp.Navigate(u.base+"/ui/runs/"+u.fail), chromedp.WaitVisible(css(`#run-status`)))
		status := text(t, ctx, chromedp.Text(css(`#run-status`)))
		pay := text(t, ctx, chromedp.Text(css(`tr[data-step="pay"]`)))
		quote := text(t, ctx, chromedp.Text(css(`tr[data-step="quote"]`)))
		if strings.TrimSpace(status) != "failed" || !strings.Contains(pay, "failed") || !strings.Contains(pay, "tool_error") || !strings.Contains(quote, "succeeded") {
			t.Errorf("failed run: status %q, pay %q, quote %q", status, pay, quote)
		}
		// The graph: one node per step, coloured by its status.
		nodes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("svg g.step[data-step]")].map(g => g.dataset.step + "=" + g.dataset.status).sort()`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(nodes, " ") != "pay=failed quote=succeeded" {
			t.Errorf("the graph's step nodes: %v, want pay=failed quote=succeeded", nodes)
		}
		u.html(t, ctx)
		u.shot(t, ctx, "run-failed")
		do(t, ctx, "open the secret run", chromedp.Navigate(u.base+"/ui/runs/"+u.secret), chromedp.WaitVisible(css(`#run-status`)))
		if doc := u.html(t, ctx); !strings.Contains(doc, "said") {
			t.Errorf("the secret run's outputs are not shown")
		}
	})

	t.Run("servers and audit", func(t *testing.T) {
		ctx := tab(t)
		u.login(t, ctx, apiToken)
		do(t, ctx, "the servers page", chromedp.Navigate(u.base+"/ui/servers"), chromedp.WaitVisible(css(`main h1`)))
		if doc := u.html(t, ctx); !strings.Contains(doc, "echo") || !strings.Contains(doc, "shop") {
			t.Errorf("the servers page does not list echo and shop")
		}
		u.shot(t, ctx, "servers")
		do(t, ctx, "a run's audit trail", chromedp.Navigate(u.base+"/ui/runs/"+u.fail+"/audit"), chromedp.WaitVisible(css(`main h1`)))
		if doc := u.html(t, ctx); !strings.Contains(doc, "fail") {
			t.Errorf("the audit page does not show the failed call")
		}
		u.shot(t, ctx, "audit")
	})

	t.Run("resolve asks first and works once", func(t *testing.T) {
		ctx := tab(t)
		u.login(t, ctx, apiToken)
		do(t, ctx, "open the blocked run", chromedp.Navigate(u.base+"/ui/runs/"+u.book), chromedp.WaitVisible(css(`section.blocked`)))
		u.shot(t, ctx, "run-blocked")
		do(t, ctx, "ask to rerun", chromedp.Click(css(`section.blocked a[href$="action=rerun"]`)), chromedp.WaitVisible(css(`form.confirm`)))
		if h := text(t, ctx, chromedp.Text(css(`h1`))); h != "Call the blocked calls again?" {
			t.Errorf("the confirmation asks %q", h)
		}
		// Asking did nothing.
		if got := waitStatus(t, u.base, u.book, "blocked", "succeeded", "failed"); got != "blocked" || u.shop.books.Load() != 1 {
			t.Fatalf("the confirmation page changed the run: %s, %d bookings", got, u.shop.books.Load())
		}
		u.html(t, ctx)
		u.labelled(t, ctx)
		u.shot(t, ctx, "resolve")
		nonce, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`form.confirm input[name="nonce"]`), "value"))
		if err != nil || nonce.Value == "" {
			t.Fatalf("the confirmation's nonce: %v", err)
		}
		// A second tab of the session asks too, before the first confirms.
		other, cancelOther := chromedp.NewContext(ctx)
		defer cancelOther()
		confirmURL := u.base + "/ui/runs/" + u.book + "/resolve?action=rerun"
		// With no call checked nothing is done.
		do(t, other, "a confirmation with no call checked",
			chromedp.Navigate(confirmURL),
			chromedp.Click(css(`#call-0`)),
			chromedp.Click(css(`form.confirm button`)),
			chromedp.WaitVisible(css(`.problem`)))
		if p := text(t, other, chromedp.Text(css(`.problem`))); !strings.Contains(p, "Check at least one call") {
			t.Errorf("no call checked says %q", p)
		}
		do(t, other, "a second confirmation", chromedp.Navigate(confirmURL), chromedp.WaitVisible(css(`form.confirm`)))

		do(t, ctx, "confirm", chromedp.Click(css(`form.confirm button`)), chromedp.WaitVisible(css(`.notice`)))
		if got := waitStatus(t, u.base, u.book, "succeeded", "failed"); got != "succeeded" {
			t.Fatalf("after rerun the booking is %s", got)
		}
		// The second tab's confirmation: the run is no longer blocked.
		do(t, other, "confirm in the second tab", chromedp.Click(css(`form.confirm button`)), chromedp.WaitVisible(css(`.problem`)))
		if again := text(t, other, chromedp.Text(css(`.problem`))); !strings.Contains(again, "not blocked: there is nothing to resolve") {
			t.Errorf("a resolve from a second tab says %q", again)
		}
		// The first confirmation sent again (a double submission): refused.
		resend := fmt.Sprintf(`(() => {
			const f = document.createElement("form");
			f.method = "post";
			f.action = %q;
			for (const [k, v] of [["csrf", document.querySelector("input[name=csrf]").value], ["nonce", %q], ["action", "rerun"], ["call", "book"]]) {
				const i = document.createElement("input");
				i.type = "hidden"; i.name = k; i.value = v;
				f.append(i);
			}
			document.body.append(f);
			f.submit();
			return true;
		})()`, "/ui/runs/"+u.book+"/resolve", nonce.Value)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](resend)); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "the resent confirmation", chromedp.WaitVisible(css(`.problem`)))
		if again := text(t, ctx, chromedp.Text(css(`.problem`))); !strings.Contains(again, "used already") {
			t.Errorf("a confirmation sent twice says %q", again)
		}
		if n := u.shop.books.Load(); n != 2 {
			t.Errorf("the shop was asked to book %d times, want 2 (the interrupted call and one rerun)", n)
		}
	})

	t.Run("no page or answer holds a secret", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		get := func(path string) string {
			resp, err := c.Get(u.base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			u.noCanary(t, path, string(b))
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				if m := inline.FindString(string(b)); m != "" {
					t.Errorf("%s has %q, which the Content-Security-Policy refuses", path, m)
				}
			}
			for k, vs := range resp.Header {
				u.noCanary(t, path+" header "+k, strings.Join(vs, " "))
			}
			return string(b)
		}
		if body := get("/ui/runs"); strings.Contains(body, "<table") {
			t.Errorf("/ui/runs without a session answered data")
		}
		req, _ := http.NewRequest("POST", u.base+"/ui/login", strings.NewReader(url.Values{"token": {apiToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", u.base)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pages := []string{"/ui/login", "/ui/runs", "/ui/runs?status=failed", "/ui/servers", "/ui/servers/shop/review", "/ui/servers/echo/review", "/ui/static/ui.css", "/ui/static/live.js", "/ui/static/graph.css", "/ui/runs/live?status=nothing"}
		for _, id := range []string{u.book, u.fail, u.secret} {
			pages = append(pages, "/ui/runs/"+id, "/ui/runs/"+id+"/live", "/ui/runs/"+id+"/resolve?action=rerun", "/ui/runs/"+id+"/audit")
		}
		if body := get("/ui/runs?status=failed"); !strings.Contains(body, u.fail) || strings.Contains(body, u.secret) {
			t.Errorf("the status filter does not keep just the failed run")
		}
		if body := get("/ui/runs?workflow=book&since=1h"); !strings.Contains(body, u.book) || strings.Contains(body, u.fail) {
			t.Errorf("the workflow filter does not keep just the booking")
		}
		for _, p := range pages {
			if strings.HasPrefix(p, "/ui/runs/live") {
				continue // an endless stream, read by the browser above
			}
			get(p)
		}
	})

	t.Run("a reload that drops a token ends its sessions", func(t *testing.T) {
		rainTab, allTab := tab(t), tab(t)
		u.login(t, rainTab, rainToken)
		u.login(t, allTab, apiToken)
		u.writeConfig(false)
		u.r.reload <- nil
		if err := <-u.r.reloaded; err != nil {
			t.Fatalf("reload: %v", err)
		}
		do(t, rainTab, "the rain token's page after the reload", chromedp.Navigate(u.base+"/ui/runs"), chromedp.WaitVisible(css(`#token`)))
		do(t, allTab, "the ci token's page after the reload", chromedp.Navigate(u.base+"/ui/runs"), chromedp.WaitVisible(css(`table.runs`)))
	})
}
