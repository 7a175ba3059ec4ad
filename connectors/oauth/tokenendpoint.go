package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mediatorhq/mediator/credentials"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 7523).
const (
	AuthMethodNone          = "none"
	AuthMethodSecretBasic   = "client_secret_basic"
	AuthMethodSecretPost    = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// Grant types and token types mediator sends.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	tokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeIDJAG         = "urn:ietf:params:oauth:token-type:id-jag"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// TokenError is an error response of a token endpoint (RFC 6749 §5.2). Its
// fields come from the server and never contain what mediator sent.
type TokenError struct {
	Endpoint    string
	Status      int
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("token endpoint %s answered %d", e.Endpoint, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// clientAuth is how the client authenticates at the token endpoint.
type clientAuth struct {
	clientID string
	method   string
	secret   credentials.Secret
	key      *SigningKey // private_key_jwt
}

// SigningKey is a private key for private_key_jwt client assertions.
type SigningKey struct {
	// Algorithm is ES256 or RS256.
	Algorithm string
	Key       crypto.Signer
	// KeyID goes into the JWT header when set.
	KeyID string
}

// ParseSigningKey reads a PKCS#8, SEC 1 or PKCS#1 PEM private key. An
// empty alg is inferred from the key type.
func ParseSigningKey(pemData credentials.Secret, alg string) (*SigningKey, error) {
	block, _ := pem.Decode([]byte(pemData.Reveal()))
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: PEM block %q does not parse as a private key", block.Type)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if alg == "" {
			alg = "ES256"
		}
		if alg != "ES256" || k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("private key: algorithm %q with an EC key on %s; only ES256 on P-256 is supported", alg, k.Curve.Params().Name)
		}
		return &SigningKey{Algorithm: alg, Key: k}, nil
	case *rsa.PrivateKey:
		if alg == "" {
			alg = "RS256"
		}
		if alg != "RS256" {
			return nil, fmt.Errorf("private key: algorithm %q with an RSA key; only RS256 is supported", alg)
		}
		return &SigningKey{Algorithm: alg, Key: k}, nil
	default:
		return nil, fmt.Errorf("private key: type %T is not supported; use an EC P-256 (ES256) or RSA (RS256) key", key)
	}
}

func (k *SigningKey) method() jwt.SigningMethod {
	if k.Algorithm == "RS256" {
		return jwt.SigningMethodRS256
	}
	return jwt.SigningMethodES256
}

// clientAssertion is the RFC 7523 §2.2 JWT: iss and sub the client, aud the
// authorization server's issuer.
func (k *SigningKey) clientAssertion(clientID, audience string, now time.Time) (string, error) {
	t := jwt.NewWithClaims(k.method(), jwt.RegisteredClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID:        rand.Text(),
	})
	if k.KeyID != "" {
		t.Header["kid"] = k.KeyID
	}
	s, err := t.SignedString(k.Key)
	if err != nil {
		return "", fmt.Errorf("signing client assertion: %w", err)
	}
	return s, nil
}

// chooseAuthMethod picks a method the server supports for a client that
// holds a secret (or not). RFC 8414: absent list means client_secret_basic.
func chooseAuthMethod(supported []string, hasSecret bool) string {
	if !hasSecret {
		return AuthMethodNone
	}
	if len(supported) == 0 {
		return AuthMethodSecretBasic
	}
	for _, m := range []string{AuthMethodSecretBasic, AuthMethodSecretPost} {
		if slices.Contains(supported, m) {
			return m
		}
	}
	return AuthMethodSecretBasic
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token"`
	Scope           string `json:"scope"`
	IssuedTokenType string `json:"issued_token_type"`
}

// tokenRequest posts a grant to a token endpoint with client
// authentication, DPoP proof (when enabled) and one retry on a DPoP nonce
// challenge.
func (h *Handler) tokenRequest(ctx context.Context, endpoint, issuer string, ca clientAuth, form url.Values, dp *dpopKey) (*Token, *tokenResponse, error) {
	form = cloneValues(form)
	basicUser, basicPass, err := h.authenticateClient(form, ca, issuer)
	if err != nil {
		return nil, nil, err
	}

	for attempt := 0; ; attempt++ {
		tok, raw, err := h.postToken(ctx, endpoint, form, basicUser, basicPass, dp)
		var te *TokenError
		if attempt == 0 && dp != nil && errors.As(err, &te) && te.Code == "use_dpop_nonce" && dp.nonceFor(endpoint) != "" {
			continue
		}
		return tok, raw, err
	}
}

// authenticateClient adds the client's authentication to a form bound for
// an endpoint of the authorization server issuer, or returns the Basic
// credentials to send instead.
func (h *Handler) authenticateClient(form url.Values, ca clientAuth, issuer string) (basicUser, basicPass string, err error) {
	switch ca.method {
	case AuthMethodSecretBasic:
		// RFC 6749 §2.3.1: form-encode both before Basic encoding.
		return url.QueryEscape(ca.clientID), url.QueryEscape(ca.secret.Reveal()), nil
	case AuthMethodSecretPost:
		form.Set("client_id", ca.clientID)
		form.Set("client_secret", ca.secret.Reveal())
	case AuthMethodPrivateKeyJWT:
		if ca.key == nil {
			return "", "", fmt.Errorf("client %q uses private_key_jwt but no signing key is configured", ca.clientID)
		}
		a, err := ca.key.clientAssertion(ca.clientID, issuer, h.now())
		if err != nil {
			return "", "", err
		}
		form.Set("client_id", ca.clientID)
		form.Set("client_assertion_type", assertionTypeJWTBearer)
		form.Set("client_assertion", a)
	case AuthMethodNone, "":
		if ca.clientID != "" {
			form.Set("client_id", ca.clientID)
		}
	default:
		return "", "", fmt.Errorf("token endpoint auth method %q is not supported (use none, client_secret_basic, client_secret_post or private_key_jwt)", ca.method)
	}
	return "", "", nil
}

func (h *Handler) postToken(ctx context.Context, endpoint string, form url.Values, basicUser, basicPass string, dp *dpopKey) (*Token, *tokenResponse, error) {
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("token endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	if dp != nil {
		proof, err := dp.proof(http.MethodPost, endpoint, "", h.now())
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("DPoP", proof)
	}
	// The token's lifetime counts from the request, not the answer: the
	// expiry mediator keeps is never later than the server's.
	sent := h.now()
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("token request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if dp != nil {
		dp.rememberNonce(endpoint, resp.Header.Get("DPoP-Nonce"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading token response of %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Code: e.Error, Description: e.ErrorDescription}
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, nil, fmt.Errorf("token response of %s is not JSON: %w", endpoint, err)
	}
	if tr.AccessToken == "" {
		return nil, nil, fmt.Errorf("token response of %s has no access_token", endpoint)
	}
	tok := &Token{
		AccessToken:  credentials.NewSecret(tr.AccessToken),
		RefreshToken: credentials.NewSecret(tr.RefreshToken),
		TokenType:    tr.TokenType,
		Scopes:       strings.Fields(tr.Scope),
	}
	switch {
	case strings.EqualFold(tr.TokenType, "bearer"), tr.TokenType == "":
		tok.TokenType = "Bearer"
	case strings.EqualFold(tr.TokenType, "dpop"):
		if dp == nil {
			return nil, nil, fmt.Errorf("token endpoint %s issued a DPoP-bound token without a DPoP proof", endpoint)
		}
		tok.TokenType = "DPoP"
	case strings.EqualFold(tr.TokenType, "n_a"):
		tok.TokenType = "N_A"
	default:
		return nil, nil, fmt.Errorf("token endpoint %s issued token_type %q; only Bearer and DPoP are supported", endpoint, tr.TokenType)
	}
	if tr.ExpiresIn > 0 {
		tok.Issued = sent
		tok.Expiry = sent.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tok, &tr, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
