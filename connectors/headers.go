package connectors

import (
	"fmt"
	"net/http"
	"strings"
)

// reservedHeaders are set by go-sdk, net/http or the auth layer; a plain
// header of the same name would fight them, and some carry credentials.
var reservedHeaders = []string{
	"Accept", "Authorization", "Connection", "Content-Length", "Content-Type", "Cookie", "Host",
	"Last-Event-Id", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// HeaderProblem says what is wrong with a plain header for an HTTP server,
// or returns "" when it may be sent. Plain headers carry settings (a
// toolset selector such as X-MCP-Toolsets, an API version), never
// credentials: those go in Auth, with the value in the keyring. Whether a
// value looks like a credential is for the caller to judge; this checks
// what HTTP and mediator's own headers allow. authHeader is the api-key
// header of the server's auth, if any.
func HeaderProblem(name, value, authHeader string) string {
	if !validHeaderName(name) {
		return fmt.Sprintf("%q is not an HTTP header name; use letters, digits and !#$%%&'*+-.^_`|~", name)
	}
	canon := http.CanonicalHeaderKey(name)
	for _, r := range reservedHeaders {
		if canon == r {
			return fmt.Sprintf("header %s is set by mediator (transport or auth), not by the config", canon)
		}
	}
	if strings.HasPrefix(canon, "Mcp-") {
		return fmt.Sprintf("header %s belongs to the MCP transport, which sets it", canon)
	}
	if authHeader != "" && canon == http.CanonicalHeaderKey(authHeader) {
		return fmt.Sprintf("header %s carries this server's api-key (auth.header)", canon)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Sprintf("the value of header %s holds a line break or NUL", canon)
	}
	return ""
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
