package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verifyProof checks a DPoP proof as a server does (RFC 9449 §4.3): typ,
// alg, the signature by the key in its own jwk header, and returns its
// claims.
func verifyProof(t *testing.T, proof string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(proof, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["typ"] != "dpop+jwt" {
			return nil, fmt.Errorf("typ %v", tok.Header["typ"])
		}
		jwk, ok := tok.Header["jwk"].(map[string]any)
		if !ok || jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["d"] != nil {
			return nil, fmt.Errorf("jwk %v is not a public P-256 key", tok.Header["jwk"])
		}
		// The uncompressed point: 0x04, then x and y of 32 bytes each.
		point := []byte{4}
		for _, k := range []string{"x", "y"} {
			b, _ := base64.RawURLEncoding.DecodeString(jwk[k].(string))
			point = append(point, make([]byte, 32-len(b))...)
			point = append(point, b...)
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !tok.Valid {
		t.Fatalf("DPoP proof does not verify: %v", err)
	}
	return claims
}

func TestDPoPProofClaims(t *testing.T) {
	k, err := newDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p, err := k.proof(http.MethodPost, "https://AS.example/token?x=1#frag", "", now)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyProof(t, p)
	if c["htm"] != "POST" || c["htu"] != "https://AS.example/token" || c["iat"] != float64(now.Unix()) {
		t.Errorf("claims %v: want htm POST, htu without query and fragment, iat now", c)
	}
	if _, ok := c["ath"]; ok {
		t.Error("a proof for the token endpoint carries ath")
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a nonce appeared before any server sent one")
	}

	// Bound to an access token at the resource server: ath = S256(token).
	p, err = k.proof(http.MethodGet, "https://mcp.example/mcp", "the-access-token", now)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("the-access-token"))
	if c := verifyProof(t, p); c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || c["htm"] != "GET" {
		t.Errorf("claims %v: want ath of the token and htm GET", c)
	}

	// Every proof is single-use: its jti is new.
	seen := map[string]bool{}
	for range 200 {
		p, err := k.proof(http.MethodPost, "https://as.example/token", "", now)
		if err != nil {
			t.Fatal(err)
		}
		jti, _ := verifyProof(t, p)["jti"].(string)
		if len(jti) < 16 || seen[jti] {
			t.Fatalf("jti %q is short or repeated", jti)
		}
		seen[jti] = true
	}

	// A nonce is per origin.
	k.rememberNonce("https://as.example/token", "n-1")
	p, _ = k.proof(http.MethodPost, "https://as.example/other", "", now)
	if c := verifyProof(t, p); c["nonce"] != "n-1" {
		t.Errorf("nonce %v at the same origin, want n-1", c["nonce"])
	}
	p, _ = k.proof(http.MethodPost, "https://elsewhere.example/token", "", now)
	if c := verifyProof(t, p); c["nonce"] != nil {
		t.Errorf("another origin's proof carries nonce %v", c["nonce"])
	}
}

// nonceServer demands a DPoP nonce (RFC 9449 §8, §9): a request whose
// proof lacks the current nonce gets the error and a DPoP-Nonce header.
type nonceServer struct {
	t      *testing.T
	status int // 400 at a token endpoint, 401 at a resource server
	ok     func(w http.ResponseWriter)

	mu     sync.Mutex
	claims []jwt.MapClaims
	bodies []string
	authz  []string
}

func (s *nonceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c := verifyProof(s.t, r.Header.Get("DPoP"))
	s.mu.Lock()
	s.claims = append(s.claims, c)
	s.bodies = append(s.bodies, string(b))
	s.authz = append(s.authz, r.Header.Get("Authorization"))
	s.mu.Unlock()
	if c["nonce"] != "server-nonce" {
		w.Header().Set("DPoP-Nonce", "server-nonce")
		if s.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="nonce required"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, s.status, map[string]any{"error": "use_dpop_nonce"})
		return
	}
	s.ok(w)
}

func dpopHandler(t *testing.T, serverURL string) *Handler {
	t.Helper()
	h, err := New(Config{ServerName: "s", ServerURL: serverURL, AllowInsecureLocalhost: true, RedirectURL: "http://127.0.0.1:1/cb", DPoP: DPoPAuto})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDPoPNonceRetryAtTheTokenEndpoint: the first token request is refused
// with use_dpop_nonce; the one retry carries the nonce, and the DPoP-bound
// token is accepted.
func TestDPoPNonceRetryAtTheTokenEndpoint(t *testing.T) {
	s := &nonceServer{t: t, status: http.StatusBadRequest, ok: func(w http.ResponseWriter) {
		writeJSON(w, 200, map[string]any{"access_token": "bound", "token_type": "DPoP", "expires_in": 60})
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	h := dpopHandler(t, srv.URL+"/mcp")
	form := url.Values{"grant_type": {grantClientCredentials}, "resource": {srv.URL + "/mcp"}}
	tok, _, err := h.tokenRequest(testContext(t), srv.URL+"/token", srv.URL, clientAuth{clientID: "c", method: AuthMethodNone}, form, h.dpop)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Errorf("token type %q, want DPoP", tok.TokenType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.claims) != 2 {
		t.Fatalf("%d token requests, want the first and one retry", len(s.claims))
	}
	if s.claims[0]["jti"] == s.claims[1]["jti"] {
		t.Error("the retry reused the first proof")
	}
	if s.claims[1]["nonce"] != "server-nonce" || s.claims[1]["htu"] != srv.URL+"/token" || s.claims[1]["htm"] != "POST" {
		t.Errorf("retry proof %v", s.claims[1])
	}
	if s.bodies[0] != s.bodies[1] || !strings.Contains(s.bodies[1], "grant_type=client_credentials") {
		t.Errorf("the retry sent another body: %q vs %q", s.bodies[0], s.bodies[1])
	}
}

// TestDPoPNonceRetryAtTheResourceServer: the MCP transport's Bearer header
// becomes the DPoP scheme with a proof bound to the token; a 401
// use_dpop_nonce is retried once, body and all, with the nonce.
func TestDPoPNonceRetryAtTheResourceServer(t *testing.T) {
	s := &nonceServer{t: t, status: http.StatusUnauthorized, ok: func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	h := dpopHandler(t, srv.URL+"/mcp")
	h.sess = &session{dpop: true}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer the-access-token")
	resp, err := h.Transport(http.DefaultTransport).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s after the nonce retry", resp.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.claims) != 2 {
		t.Fatalf("%d requests, want the first and one retry", len(s.claims))
	}
	sum := sha256.Sum256([]byte("the-access-token"))
	for i, c := range s.claims {
		if s.authz[i] != "DPoP the-access-token" {
			t.Errorf("request %d Authorization %q, want the DPoP scheme", i+1, s.authz[i])
		}
		if c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || c["htu"] != srv.URL+"/mcp" || c["htm"] != "POST" {
			t.Errorf("request %d proof %v", i+1, c)
		}
		if s.bodies[i] != body {
			t.Errorf("request %d body %q", i+1, s.bodies[i])
		}
	}
	if s.claims[1]["nonce"] != "server-nonce" {
		t.Errorf("retry proof nonce %v", s.claims[1]["nonce"])
	}
	var b strings.Builder
	_ = json.NewEncoder(&b).Encode(s.claims)
	if strings.Contains(b.String(), "the-access-token") {
		t.Error("a proof carries the access token itself")
	}
}
