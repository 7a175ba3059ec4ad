package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// dpopKey proves possession of a per-handler key (RFC 9449). Tokens bound
// to it are useless to anyone who steals them without the key, which never
// leaves memory.
type dpopKey struct {
	key *ecdsa.PrivateKey
	jwk map[string]any

	mu     sync.Mutex
	nonces map[string]string // by origin
}

func newDPoPKey() (*dpopKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating DPoP key: %w", err)
	}
	return dpopKeyFrom(k)
}

// GenerateDPoPKey makes a new P-256 key for Config.DPoPKey.
func GenerateDPoPKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func dpopKeyFrom(k *ecdsa.PrivateKey) (*dpopKey, error) {
	if k.Curve != elliptic.P256() {
		return nil, errors.New("DPoP key: only P-256 (ES256) keys are supported")
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("encoding DPoP key: %w", err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	return &dpopKey{
		key:    k,
		jwk:    map[string]any{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:65])},
		nonces: map[string]string{},
	}, nil
}

func originOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Scheme + "://" + u.Host
}

func (d *dpopKey) nonceFor(rawURL string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[originOf(rawURL)]
}

func (d *dpopKey) rememberNonce(rawURL, nonce string) {
	if nonce == "" {
		return
	}
	d.mu.Lock()
	d.nonces[originOf(rawURL)] = nonce
	d.mu.Unlock()
}

// proof is a fresh DPoP proof JWT (RFC 9449 §4.2). accessToken, when set,
// is bound through ath.
func (d *dpopKey) proof(method, rawURL, accessToken string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("DPoP proof for %q: %w", rawURL, err)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	claims := jwt.MapClaims{
		"jti": rand.Text(),
		"htm": method,
		"htu": u.String(),
		"iat": now.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if n := d.nonceFor(rawURL); n != "" {
		claims["nonce"] = n
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = d.jwk
	s, err := t.SignedString(d.key)
	if err != nil {
		return "", fmt.Errorf("signing DPoP proof: %w", err)
	}
	return s, nil
}

// dpopTransport turns the transport's "Authorization: Bearer" into the DPoP
// scheme with a fresh proof per request, and retries once when the resource
// server asks for a nonce (RFC 9449 §9).
type dpopTransport struct {
	h    *Handler
	base http.RoundTripper
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := t.h.dpop
	authz := req.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if d == nil || !ok || !t.h.usingDPoP() {
		return t.base.RoundTrip(req)
	}
	send := func(r *http.Request) (*http.Response, error) {
		proof, err := d.proof(r.Method, r.URL.String(), tok, t.h.now())
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		resp, err := t.base.RoundTrip(r)
		if err == nil {
			d.rememberNonce(r.URL.String(), resp.Header.Get("DPoP-Nonce"))
		}
		return resp, err
	}
	r := req.Clone(req.Context())
	resp, err := send(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("DPoP-Nonce") == "" {
		return resp, err
	}
	if parseChallenge(resp.Header).err != "use_dpop_nonce" || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	r2 := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		r2.Body = body
	}
	resp.Body.Close()
	return send(r2)
}
