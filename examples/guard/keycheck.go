package guard

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Policy says which key a server requires and where it expects it.
type Policy struct {
	// Realm names the server in its WWW-Authenticate challenge.
	Realm string
	// Header carries an API key (e.g. "X-API-Key"); ignored when Bearer is set.
	Header string
	// Bearer expects "Authorization: Bearer <key>" instead of an API-key header.
	Bearer bool
	// Key is the only value accepted. An empty Key accepts nothing.
	Key string
}

// checkedHeader is the header the policy reads the credential from.
func (p Policy) checkedHeader() string {
	if p.Bearer {
		return "Authorization"
	}
	return p.Header
}

// presented extracts the credential the request offers under this policy.
func (p Policy) presented(r *http.Request) string {
	v := r.Header.Get(p.checkedHeader())
	if !p.Bearer {
		return v
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func (p Policy) challenge(presented string) string {
	if p.Bearer {
		if presented == "" {
			return fmt.Sprintf("Bearer realm=%q", p.Realm)
		}
		return fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", p.Realm)
	}
	// There is no registered scheme for API keys; this names the header so a
	// client (or a person with curl) knows what is expected.
	return fmt.Sprintf("APIKey realm=%q, header=%q", p.Realm, p.checkedHeader())
}

// Require logs every request in log, then passes it to next only when it
// presents the policy's key; otherwise it answers 401 with a
// WWW-Authenticate challenge and never reaches next.
func Require(next http.Handler, p Policy, log *RequestLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := Entry{
			Time:        time.Now(),
			Method:      r.Method,
			Path:        r.URL.Path,
			Remote:      r.RemoteAddr,
			HeaderNames: headerNames(r.Header),
			Credentials: map[string]string{},
		}
		for k, vs := range r.Header {
			if isCredentialHeader(k) {
				e.Credentials[http.CanonicalHeaderKey(k)] = strings.Join(vs, ", ")
			}
		}
		e.raw, e.RPC = readRequest(r)
		e.Presented = p.presented(r)
		e.Authorized = p.Key != "" && subtle.ConstantTimeCompare([]byte(e.Presented), []byte(p.Key)) == 1

		if !e.Authorized {
			e.Status = http.StatusUnauthorized
			log.add(e)
			log.logAnswered(e)
			w.Header().Set("WWW-Authenticate", p.challenge(e.Presented))
			http.Error(w, "missing or invalid credential in "+p.checkedHeader(), http.StatusUnauthorized)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		i := log.add(e)
		next.ServeHTTP(rec, r)
		log.setStatus(i, rec.status())
	})
}

// readRequest renders the request line, headers and (a bounded prefix of)
// the body into one string for RequestLog.Saw, names the JSON-RPC method in
// the body, and restores the body for the handler.
func readRequest(r *http.Request) (raw, rpc string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.String())
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if r.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxLoggedBody))
		b.Write(body)
		rpc = rpcMethod(body)
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	}
	return b.String(), rpc
}

type readCloser struct {
	io.Reader
	io.Closer
}

// statusRecorder notes the status code; Unwrap keeps
// http.ResponseController (flushing of SSE streams) working through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
