package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/orchestrator"
)

// report is everything the demo shows: the setup, each hop, each check.
// It names credentials (keyring items) but never holds their values.
type report struct {
	City    string       `json:"city"`
	Servers []serverInfo `json:"servers"`
	Keyring keyringInfo  `json:"keyring"`
	Hops    []hop        `json:"hops"`
	// Logs is each server's own request log, credential values replaced by
	// the label of the key they match.
	Logs   map[string][]logLine `json:"server_logs,omitempty"`
	Checks []check              `json:"checks"`
	Passed bool                 `json:"passed"`
	Error  string               `json:"error,omitempty"`

	keys   *demoKeys
	failed []string
}

type serverInfo struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Auth is how the server wants its key: api-key or bearer.
	Auth   string `json:"auth"`
	Header string `json:"header"`
	// Credential is the keyring item (server/name) the connector reads.
	Credential string `json:"credential"`
	// Key labels the value the server was started with: "A" or "B".
	Key      string `json:"key"`
	State    string `json:"state,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Tools    int    `json:"tools,omitempty"`
}

type keyringInfo struct {
	Backend string             `json:"backend"`
	Items   []credentials.Item `json:"items"`
}

type hop struct {
	N      int    `json:"n"`
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Credential is the keyring item whose value went to Server, never the value.
	Credential   string         `json:"credential"`
	ComposedFrom []string       `json:"composed_from,omitempty"`
	Arguments    map[string]any `json:"arguments"`
	Result       any            `json:"result,omitempty"`
	// Carries lists the servers whose output went into Arguments.
	Carries    []string `json:"carries,omitempty"`
	CallID     string   `json:"call_id,omitempty"`
	DurationMS float64  `json:"duration_ms"`
	Error      string   `json:"error,omitempty"`
	// Refused is the data-flow policy's refusal of a hop that must not
	// happen; nothing was sent.
	Refused string `json:"refused,omitempty"`
}

type logLine struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	RPC    string `json:"rpc,omitempty"`
	Status int    `json:"status"`
	Remote string `json:"remote"`
	// Credentials maps each credential-bearing header to "key A", "key B",
	// "no known key" or "empty".
	Credentials map[string]string `json:"credentials"`
	Headers     []string          `json:"headers"`
}

type check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

func (r *report) setup(servers []orchestrator.ServerConfig, store *credentials.Store) {
	for i, s := range servers {
		info := serverInfo{Name: s.Name, URL: s.URL, Auth: s.Auth.Type, Header: s.Auth.Header,
			Credential: s.Name + "/" + s.Auth.Secret, Key: string(rune('A' + i))}
		if s.Auth.Type == connectors.AuthBearer {
			info.Header = "Authorization: Bearer"
		}
		r.Servers = append(r.Servers, info)
	}
	r.Keyring.Backend = store.Backend()
	if items, err := store.List(""); err == nil {
		r.Keyring.Items = items
	}
}

func (r *report) connected(st orchestrator.ServerStatus) {
	for i := range r.Servers {
		if r.Servers[i].Name == st.Name {
			r.Servers[i].State, r.Servers[i].Protocol, r.Servers[i].Tools = string(st.State), st.ProtocolVersion, st.Tools
		}
	}
}

// addLog copies a server's request log into the report with every
// credential value replaced by a label.
func (r *report) addLog(server string, log *guard.RequestLog) {
	if r.Logs == nil {
		r.Logs = map[string][]logLine{}
	}
	lines := []logLine{}
	for _, e := range log.Entries() {
		l := logLine{Method: e.Method, Path: e.Path, RPC: e.RPC, Status: e.Status, Remote: e.Remote,
			Credentials: map[string]string{}, Headers: e.HeaderNames}
		for h, v := range e.Credentials {
			l.Credentials[h] = r.keys.label(v)
		}
		lines = append(lines, l)
	}
	r.Logs[server] = lines
}

func (r *report) check(c check) {
	r.Checks = append(r.Checks, c)
	if !c.Passed {
		r.failed = append(r.failed, c.Name)
	}
}

// callInto makes one hop through the orchestrator with the provenance of
// what its arguments were built from, records it, and decodes the
// structured result into T. It returns the result's provenance too.
func callInto[T any](ctx context.Context, o *orchestrator.Orchestrator, r *report, server, tool, secret string, args map[string]any, why []string, prov orchestrator.Provenance) (T, orchestrator.Provenance, error) {
	var out T
	h := hop{N: len(r.Hops) + 1, Server: server, Tool: tool, Credential: server + "/" + secret, ComposedFrom: why, Arguments: args, Carries: prov.Servers()}
	res, err := o.CallWith(ctx, server, tool, args, orchestrator.CallOptions{Provenance: prov})
	if res != nil {
		h.CallID, h.DurationMS = res.CallID, float64(res.Duration)/float64(time.Millisecond)
		h.Result = res.StructuredContent
		prov = res.Provenance
	}
	switch {
	case err != nil:
		h.Error = err.Error()
	case res.IsError:
		h.Error = "the tool returned an error: " + resultText(res.CallToolResult)
	default:
		b, merr := json.Marshal(res.StructuredContent)
		if merr == nil {
			merr = json.Unmarshal(b, &out)
		}
		if merr != nil {
			h.Error = fmt.Sprintf("unexpected result shape: %v", merr)
		}
	}
	r.Hops = append(r.Hops, h)
	if h.Error != "" {
		return out, prov, fmt.Errorf("hop %d, %s.%s: %s", h.N, server, tool, h.Error)
	}
	return out, prov, nil
}

// refusedHop tries a hop the data-flow policy must refuse and records the
// refusal; it returns the orchestrator's error (nil if the call was made).
func refusedHop(ctx context.Context, o *orchestrator.Orchestrator, r *report, server, tool, secret string, args map[string]any, why []string, prov orchestrator.Provenance) error {
	h := hop{N: len(r.Hops) + 1, Server: server, Tool: tool, Credential: server + "/" + secret, ComposedFrom: why, Arguments: args, Carries: prov.Servers()}
	_, err := o.CallWith(ctx, server, tool, args, orchestrator.CallOptions{Provenance: prov})
	if err != nil {
		h.Refused = err.Error()
	}
	r.Hops = append(r.Hops, h)
	return err
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func (r *report) passed() bool { return r.Error == "" && len(r.failed) == 0 && len(r.Checks) > 0 }

func (r *report) writeJSON(b *bytes.Buffer) {
	r.Passed = r.passed()
	enc := json.NewEncoder(b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r) // a buffer does not fail, and every field marshals
}

func (r *report) writeText(b *bytes.Buffer) {
	fmt.Fprintf(b, "mediator demo: two MCP servers, two keys, one mediator in between\n\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, s := range r.Servers {
		fmt.Fprintf(tw, "  %s\t%s\trequires key %s in %s\n", s.Name, s.URL, s.Key, s.Header)
	}
	_ = tw.Flush()
	if r.Keyring.Backend != "" {
		var items []string
		for _, it := range r.Keyring.Items {
			items = append(items, it.Server+"/"+it.Name)
		}
		fmt.Fprintf(b, "  keyring: throwaway %s backend with a random passphrase, items %s (values never shown)\n",
			r.Keyring.Backend, strings.Join(items, ", "))
	}
	for _, s := range r.Servers {
		if s.State != "" {
			fmt.Fprintf(b, "  connected %s: %s, protocol %s, %d tool(s), credential %s\n", s.Name, s.State, s.Protocol, s.Tools, s.Credential)
		}
	}
	for _, h := range r.Hops {
		fmt.Fprintf(b, "\nhop %d  mediator -> %s.%s  (credential: keyring item %s)\n", h.N, h.Server, h.Tool, h.Credential)
		for _, w := range h.ComposedFrom {
			fmt.Fprintf(b, "       from hop %d: %s\n", h.N-1, w)
		}
		if len(h.Carries) > 0 {
			fmt.Fprintf(b, "       carries   data from %s\n", strings.Join(h.Carries, ", "))
		}
		if h.Refused != "" {
			fmt.Fprintf(b, "       REFUSED   %s (nothing was sent)\n", h.Refused)
			continue
		}
		fmt.Fprintf(b, "       sent      %s\n", compact(h.Arguments))
		if h.Error != "" {
			fmt.Fprintf(b, "       FAILED    %s\n", h.Error)
			continue
		}
		fmt.Fprintf(b, "       got back  %s\n", compact(h.Result))
		fmt.Fprintf(b, "       call %s, %.1f ms, audited\n", h.CallID, h.DurationMS)
	}
	for _, s := range r.Servers {
		lines, ok := r.Logs[s.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "\n%s's own request log (%d request(s)):\n", s.Name, len(lines))
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, l := range lines {
			var creds []string
			for _, h := range slices.Sorted(maps.Keys(l.Credentials)) {
				creds = append(creds, h+": "+l.Credentials[h])
			}
			if len(creds) == 0 {
				creds = []string{"no credential"}
			}
			fmt.Fprintf(tw, "  %s %s\t%s\t-> %d\tfrom %s\t%s\n", l.Method, l.Path, l.RPC, l.Status, l.Remote, strings.Join(creds, ", "))
		}
		_ = tw.Flush()
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(b, "\nchecks, from each server's own request log and the audit log:\n")
	}
	for _, c := range r.Checks {
		mark := "PASS"
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(b, "  %s  %s: %s\n", mark, c.Name, c.Detail)
	}
	switch {
	case r.Error != "":
		fmt.Fprintf(b, "\ndemo stopped: %s\n", r.Error)
	case r.passed():
		fmt.Fprintf(b, "\nall checks passed\n")
	default:
		fmt.Fprintf(b, "\n%d check(s) failed\n", len(r.failed))
	}
}

// compact renders a value as one line of JSON.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
