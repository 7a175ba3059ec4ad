package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// go-sdk v1.8.0 knows nothing of tasks: its CallToolParams has no task
// parameter, a CreateTaskResult decodes into an empty CallToolResult (the
// task's id is lost), its Tool has no execution field and its
// ServerCapabilities no tasks. The connector therefore handles tasks one
// level down, on the JSON-RPC messages of a session, in one place: the
// taskWire below. It sees every message of its session (as an
// mcp.Connection wrapper over stdio, SSE and in-process transports, and
// in the HTTP round tripper over streamable HTTP, whose connection go-sdk
// must get unwrapped) and
//   - adds the task parameter to a tools/call that callTool marked (the
//     mark, a _meta key, is taken out again: it never reaches the server;
//     a call marked only to be watched, under the tasks extension, gets
//     no parameter), and hands callTool the call's result when it is a
//     task, so a CreateTaskResult is not lost;
//   - reads each tool's execution.taskSupport from tools/list results and
//     the server's tasks capability and extension from the initialize
//     (or server/discover) result;
//   - over HTTP, names the task of a tasks/get|update|cancel in the
//     Mcp-Name header, as the tasks extension asks.
// tasks/get, tasks/result and tasks/cancel are otherwise ordinary custom
// methods (see addTaskMethods).

// taskMark is the _meta key under which callTool marks a tools/call to be
// sent as a task; its value is the call's token (see taskState.expect).
const taskMark = "mediator/task-call"

// taskState is what a connector knows about tasks across its sessions.
type taskState struct {
	mu sync.Mutex
	// support is each tool's execution.taskSupport, from the last
	// listing that named the tool; a tool without one is absent.
	support map[string]string
	// listed holds every tool name a listing has named, with or without
	// a taskSupport: a call to a tool not in it cannot tell "no task
	// support" from "not listed yet".
	listed map[string]bool
	// serverCalls: the server declared tasks.requests.tools.call in its
	// last initialize result. serverExt: it declared the tasks extension
	// (TasksExtension) there or in its server/discover result.
	serverCalls bool
	serverExt   bool
	// created holds, per marked call's token, the call's result when it
	// was a task (a CreateTaskResult). waiting holds the tokens of the
	// calls still waiting for theirs.
	created map[string]json.RawMessage
	waiting map[string]bool
	next    uint64
	// orphan cancels a task whose call had given up before the server
	// answered with it: nobody would wait for it, nor cancel it.
	orphan func(cs *mcp.ClientSession, taskID string)
	// live is the live session's wire.
	live *taskWire
}

func newTaskState() *taskState {
	return &taskState{support: map[string]string{}, listed: map[string]bool{}, created: map[string]json.RawMessage{}, waiting: map[string]bool{}}
}

// toolSupport is name's execution.taskSupport ("" when none was listed)
// and whether the server declared task-augmented tools/call.
func (s *taskState) toolSupport(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.support[name], s.serverCalls
}

// unlisted reports whether the server runs tools as tasks but no listing
// has named tool name yet, so its task support is unknown.
func (s *taskState) unlisted(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverCalls && !s.listed[name]
}

// extension reports whether the server declared the tasks extension.
func (s *taskState) extension() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverExt
}

// expect returns a fresh token for a marked call.
func (s *taskState) expect() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	token := "t" + strconv.FormatUint(s.next, 10)
	s.waiting[token] = true
	return token
}

// take returns and forgets the raw result captured for token, if any.
func (s *taskState) take(token string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := s.created[token]
	delete(s.created, token)
	delete(s.waiting, token)
	return raw
}

// wire returns cs's wire: the live session's.
func (s *taskState) wire(cs *mcp.ClientSession) *taskWire {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil || s.live.cs != cs {
		return nil
	}
	return s.live
}

// bind makes w, the wire of new session cs, the live one.
func (s *taskState) bind(cs *mcp.ClientSession, w *taskWire) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.cs = cs
	s.live = w
}

// newWire returns the wire of one new session.
func (s *taskState) newWire() *taskWire {
	return &taskWire{state: s, pending: map[jsonrpc.ID]wireRequest{}}
}

// taskWire watches one session's messages (see the comment at the top).
type taskWire struct {
	state   *taskState
	notices *noticeOrder // counts the log and progress notifications read

	mu      sync.Mutex
	pending map[jsonrpc.ID]wireRequest // requests whose responses it reads
	cs      *mcp.ClientSession         // once bound; guarded by state.mu
}

type wireRequest struct {
	method string
	token  string // a marked tools/call's
}

// outgoing returns msg as it is to be sent: a marked tools/call gets its
// task parameter instead of the mark. It reports whether the response to
// msg is of interest (see incoming).
func (w *taskWire) outgoing(msg jsonrpc.Message) (jsonrpc.Message, bool) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.ID.IsValid() {
		return msg, false
	}
	var token string
	switch req.Method {
	case "initialize", "server/discover", "tools/list":
	case "tools/call":
		if !bytes.Contains(req.Params, []byte(taskMark)) {
			return msg, false
		}
		var params map[string]json.RawMessage
		if json.Unmarshal(req.Params, &params) != nil {
			return msg, false
		}
		var meta map[string]json.RawMessage
		if json.Unmarshal(params["_meta"], &meta) != nil || json.Unmarshal(meta[taskMark], &token) != nil {
			return msg, false
		}
		ttl, augment := meta[taskMark+"-ttl"]
		delete(meta, taskMark)
		delete(meta, taskMark+"-ttl")
		if len(meta) == 0 {
			delete(params, "_meta")
		} else {
			params["_meta"], _ = json.Marshal(meta)
		}
		if augment {
			params["task"], _ = json.Marshal(map[string]json.RawMessage{"ttl": ttl})
		}
		p, err := json.Marshal(params)
		if err != nil {
			return msg, false
		}
		r := *req
		r.Params = p
		msg = &r
	default:
		return msg, false
	}
	w.mu.Lock()
	w.pending[req.ID] = wireRequest{method: req.Method, token: token}
	w.mu.Unlock()
	return msg, true
}

// incoming reads what it needs from a response to a request outgoing
// picked.
func (w *taskWire) incoming(msg jsonrpc.Message) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return
	}
	w.mu.Lock()
	req, ok := w.pending[resp.ID]
	delete(w.pending, resp.ID)
	w.mu.Unlock()
	if !ok || resp.Error != nil {
		return
	}
	s := w.state
	switch req.method {
	case "initialize", "server/discover":
		var r struct {
			Capabilities struct {
				Extensions map[string]json.RawMessage `json:"extensions"`
				Tasks      *struct {
					Requests *struct {
						Tools *struct {
							Call json.RawMessage `json:"call"`
						} `json:"tools"`
					} `json:"requests"`
				} `json:"tasks"`
			} `json:"capabilities"`
		}
		_ = json.Unmarshal(resp.Result, &r)
		t := r.Capabilities.Tasks
		s.mu.Lock()
		s.serverCalls = t != nil && t.Requests != nil && t.Requests.Tools != nil && t.Requests.Tools.Call != nil
		_, s.serverExt = r.Capabilities.Extensions[TasksExtension]
		s.mu.Unlock()
	case "tools/list":
		var r struct {
			Tools []struct {
				Name      string `json:"name"`
				Execution *struct {
					TaskSupport string `json:"taskSupport"`
				} `json:"execution"`
			} `json:"tools"`
		}
		if json.Unmarshal(resp.Result, &r) != nil {
			return
		}
		s.mu.Lock()
		for _, t := range r.Tools {
			s.listed[t.Name] = true
			if t.Execution != nil && t.Execution.TaskSupport != "" {
				s.support[t.Name] = t.Execution.TaskSupport
			} else {
				delete(s.support, t.Name)
			}
		}
		s.mu.Unlock()
	case "tools/call":
		t, _ := createdTask(resp.Result)
		if t == nil {
			return // the tool's own result, which go-sdk decodes
		}
		s.mu.Lock()
		waiting := s.waiting[req.token]
		if waiting {
			s.created[req.token] = append(json.RawMessage(nil), resp.Result...)
		}
		cs, orphan := w.cs, s.orphan
		s.mu.Unlock()
		if !waiting && orphan != nil && cs != nil {
			// Not on this goroutine: it reads the session's messages,
			// the answer to tasks/cancel among them.
			go orphan(cs, t.TaskID)
		}
	}
}

// transport wraps t so that its connection goes through w.
func (w *taskWire) transport(t mcp.Transport) mcp.Transport { return wiredTransport{inner: t, wire: w} }

type wiredTransport struct {
	inner mcp.Transport
	wire  *taskWire
}

func (t wiredTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &wiredConn{Connection: conn, wire: t.wire}, nil
}

type wiredConn struct {
	mcp.Connection
	wire *taskWire
}

func (c *wiredConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.wire.incoming(msg)
		if r, ok := msg.(*jsonrpc.Request); ok && (r.Method == methodLog || r.Method == methodProgress) {
			c.wire.notices.seen()
		}
	}
	return msg, err
}

func (c *wiredConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	msg, _ = c.wire.outgoing(msg)
	return c.Connection.Write(ctx, msg)
}

// roundTrip is the wire over streamable HTTP, where every request is one
// POSTed message and its response arrives in the POST's body (JSON, or
// an event stream that ends with it). next sends the request.
func (w *taskWire) roundTrip(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil {
		return next(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	watch, name := false, ""
	// Only a request outgoing may pick, or one about a task, is decoded: a
	// tool's arguments can be large.
	if bytes.Contains(body, []byte(taskMark)) || bytes.Contains(body, []byte(`"tasks/`)) ||
		bytes.Contains(body, []byte(`"initialize"`)) || bytes.Contains(body, []byte(`"server/discover"`)) || bytes.Contains(body, []byte(`"tools/list"`)) {
		if msg, err := jsonrpc.DecodeMessage(body); err == nil {
			name = taskName(msg)
			var out jsonrpc.Message
			if out, watch = w.outgoing(msg); out != msg {
				if b, err := jsonrpc.EncodeMessage(out); err == nil {
					body = b
				}
			}
		}
	}
	req = req.Clone(req.Context())
	if name != "" {
		// The tasks extension routes a request about a task by its id
		// (SEP-2243), which go-sdk does not set for custom methods.
		req.Header.Set("Mcp-Name", name)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := next(req)
	if err != nil {
		return resp, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	events := mt == "text/event-stream"
	if !watch && !events {
		return resp, nil
	}
	resp.Body = &wireBody{ReadCloser: resp.Body, wire: w, events: events, watch: watch}
	return resp, nil
}

// taskName is the task id of a tasks/get, tasks/update or tasks/cancel
// request, or "".
func taskName(msg jsonrpc.Message) string {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || (req.Method != "tasks/get" && req.Method != "tasks/update" && req.Method != "tasks/cancel") {
		return ""
	}
	var p struct {
		TaskID string `json:"taskId"`
	}
	_ = json.Unmarshal(req.Params, &p)
	return p.TaskID
}

// wireBody passes a response body through, handing each JSON-RPC message
// in it to the wire as it goes by: the whole body (JSON) or each event's
// data (an event stream). The body is read through the session's limit,
// so what it holds of one message is bounded by max_result_bytes.
type wireBody struct {
	io.ReadCloser
	wire   *taskWire
	events bool
	watch  bool         // the wire reads the response (else only log messages are counted)
	buf    bytes.Buffer // the body so far (JSON), or the current line
	data   bytes.Buffer // the current event's data
}

func (b *wireBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.events {
		b.lines(p[:n])
	} else {
		b.buf.Write(p[:n])
		if err == io.EOF {
			b.message(b.buf.Bytes())
			b.buf.Reset()
		}
	}
	return n, err
}

// lines follows an event stream: "data:" lines make an event's data, an
// empty line ends the event. buf holds the line read so far.
func (b *wireBody) lines(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.buf.Write(p)
			return
		}
		b.buf.Write(p[:i])
		p = p[i+1:]
		line := bytes.TrimSuffix(b.buf.Bytes(), []byte("\r"))
		switch {
		case len(line) == 0:
			if b.data.Len() > 0 {
				b.message(b.data.Bytes())
				b.data.Reset()
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if b.data.Len() > 0 {
				b.data.WriteByte('\n')
			}
			line = bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			b.data.Write(line)
		}
		b.buf.Reset()
	}
}

func (b *wireBody) message(data []byte) {
	isNotice := bytes.Contains(data, []byte(methodLog)) || bytes.Contains(data, []byte(methodProgress))
	if !b.watch && !isNotice {
		return
	}
	if msg, err := jsonrpc.DecodeMessage(data); err == nil {
		b.wire.incoming(msg)
		if r, ok := msg.(*jsonrpc.Request); ok && isNotice && (r.Method == methodLog || r.Method == methodProgress) {
			b.wire.notices.seen()
		}
	}
}
