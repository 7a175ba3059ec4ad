package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// ErrNotStored is returned by a TokenStore that holds no such entry.
var ErrNotStored = errors.New("not stored")

// TokenKey binds a token to everything it was issued for. A token is reused
// only when all four match (MCP SEP-2352: credentials are bound to the
// authorization server; RFC 8707: tokens to the resource).
type TokenKey struct {
	Server   string
	Issuer   string
	ClientID string
	Resource string
}

// Token is an OAuth token set. Its secret fields are credentials.Secret so
// that no formatting path can print them.
type Token struct {
	AccessToken  credentials.Secret
	RefreshToken credentials.Secret
	// TokenType is "Bearer" or "DPoP".
	TokenType string
	Expiry    time.Time
	// Issued is when the token was obtained (zero when not known), so that
	// Expiry-Issued is its lifetime.
	Issued time.Time
	Scopes []string
	// PendingScopes are scopes the server demanded (403
	// insufficient_scope) beyond this grant, which a call without the user
	// could not obtain; the next login asks for them too.
	PendingScopes []string
}

// Registration is a client registration with one authorization server:
// from dynamic registration (persisted so mediator does not register again
// on every login) or entered by the user.
type Registration struct {
	Issuer       string
	ClientID     string
	ClientSecret credentials.Secret
	// AuthMethod is the token_endpoint_auth_method: none,
	// client_secret_basic or client_secret_post.
	AuthMethod string
	// RedirectURIs the client was registered with.
	RedirectURIs []string
	// GrantTypes the client was registered for; empty for registrations
	// stored before mediator recorded them.
	GrantTypes []string
}

// TokenStore keeps tokens and registrations. MemoryStore serves the
// conformance run and tests; KeyringStore is the real one.
type TokenStore interface {
	LoadToken(ctx context.Context, key TokenKey) (*Token, error)
	// SaveToken must be durable when it returns: a rotated refresh token
	// is saved before the new access token is used.
	SaveToken(ctx context.Context, key TokenKey, tok *Token) error
	LoadRegistration(ctx context.Context, server, issuer string) (*Registration, error)
	SaveRegistration(ctx context.Context, server string, reg *Registration) error
	// LoadClientIssuer and SaveClientIssuer keep the authorization server a
	// configured client without a configured issuer was first used with
	// (its pin; see Handler.pinIssuer). LoadClientIssuer returns
	// ErrNotStored when there is none.
	LoadClientIssuer(ctx context.Context, server, clientID string) (string, error)
	SaveClientIssuer(ctx context.Context, server, clientID, issuer string) error
	// Forget removes every token, registration and pin of the server
	// (logout).
	Forget(ctx context.Context, server string) error
	// Inventory lists what is stored for the server, without secrets
	// (`mediator auth status`, and the token sets logout revokes).
	Inventory(ctx context.Context, server string) (*Inventory, error)
}

// MemoryStore is a TokenStore that lives as long as the process.
type MemoryStore struct {
	mu     sync.Mutex
	tokens map[TokenKey]Token
	regs   map[[2]string]Registration
	pins   map[[2]string]string // by (server, client ID)
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tokens: map[TokenKey]Token{}, regs: map[[2]string]Registration{}, pins: map[[2]string]string{}}
}

func (m *MemoryStore) LoadClientIssuer(_ context.Context, server, clientID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	iss, ok := m.pins[[2]string{server, clientID}]
	if !ok {
		return "", ErrNotStored
	}
	return iss, nil
}

func (m *MemoryStore) SaveClientIssuer(_ context.Context, server, clientID, issuer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pins[[2]string{server, clientID}] = issuer
	return nil
}

func (m *MemoryStore) LoadToken(_ context.Context, key TokenKey) (*Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[key]
	if !ok {
		return nil, ErrNotStored
	}
	t.Scopes = slices.Clone(t.Scopes)
	t.PendingScopes = slices.Clone(t.PendingScopes)
	return &t, nil
}

func (m *MemoryStore) SaveToken(_ context.Context, key TokenKey, tok *Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := *tok
	t.Scopes = slices.Clone(t.Scopes)
	t.PendingScopes = slices.Clone(t.PendingScopes)
	m.tokens[key] = t
	return nil
}

func (m *MemoryStore) LoadRegistration(_ context.Context, server, issuer string) (*Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.regs[[2]string{server, issuer}]
	if !ok {
		return nil, ErrNotStored
	}
	return &r, nil
}

func (m *MemoryStore) SaveRegistration(_ context.Context, server string, reg *Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regs[[2]string{server, reg.Issuer}] = *reg
	return nil
}

func (m *MemoryStore) Forget(_ context.Context, server string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.Server == server {
			delete(m.tokens, k)
		}
	}
	for k := range m.regs {
		if k[0] == server {
			delete(m.regs, k)
		}
	}
	for k := range m.pins {
		if k[0] == server {
			delete(m.pins, k)
		}
	}
	return nil
}

// SecretStore is what KeyringStore needs of credentials.Store: items by
// (server, name). Declared here, at the consumer.
type SecretStore interface {
	Get(server, name string) (credentials.Secret, error)
	Set(server, name string, value credentials.Secret) error
	Remove(server, name string) error
}

// KeyringStore keeps each token set and registration as one keyring item of
// its server. Item names hash the binding (issuer, client, resource), so a
// token is found only under the exact binding it was issued for. An index
// item lists the names so Forget can remove them all.
type KeyringStore struct {
	Secrets SecretStore
	mu      sync.Mutex
}

const (
	keyringIndexItem = "oauth-index"
	dpopKeyItem      = "oauth-dpop-key"
)

func tokenItem(k TokenKey) string {
	sum := sha256.Sum256([]byte(k.Issuer + "\x00" + k.ClientID + "\x00" + k.Resource))
	return "oauth-token-" + hex.EncodeToString(sum[:8])
}

func registrationItem(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return "oauth-client-" + hex.EncodeToString(sum[:8])
}

func pinItem(clientID string) string {
	sum := sha256.Sum256([]byte(clientID))
	return "oauth-pin-" + hex.EncodeToString(sum[:8])
}

// storedPin is the keyring form of a configured client's issuer pin.
type storedPin struct {
	ClientID string `json:"client_id"`
	Issuer   string `json:"issuer"`
}

func (s *KeyringStore) LoadClientIssuer(_ context.Context, server, clientID string) (string, error) {
	sec, err := s.Secrets.Get(server, pinItem(clientID))
	if err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			return "", ErrNotStored
		}
		return "", fmt.Errorf("reading the authorization server of client %q of server %q from the keyring: %w", clientID, server, err)
	}
	var p storedPin
	if err := json.Unmarshal([]byte(sec.Reveal()), &p); err != nil || p.ClientID != clientID || p.Issuer == "" {
		return "", fmt.Errorf("keyring item %q of server %q is not a client's authorization server (remove it with `mediator auth logout %s`)", pinItem(clientID), server, server)
	}
	return p.Issuer, nil
}

func (s *KeyringStore) SaveClientIssuer(_ context.Context, server, clientID, issuer string) error {
	b, err := json.Marshal(storedPin{ClientID: clientID, Issuer: issuer})
	if err != nil {
		return fmt.Errorf("encoding the authorization server of client %q: %w", clientID, err)
	}
	return s.setIndexed(server, pinItem(clientID), credentials.NewSecret(string(b)))
}

// storedToken is the keyring form. It exists only inside a Secret.
type storedToken struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	Resource     string    `json:"resource"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Issued       time.Time `json:"issued,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	Pending      []string  `json:"pending_scopes,omitempty"`
}

type storedRegistration struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	AuthMethod   string   `json:"auth_method,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	GrantTypes   []string `json:"grant_types,omitempty"`
}

func (s *KeyringStore) LoadToken(_ context.Context, key TokenKey) (*Token, error) {
	sec, err := s.Secrets.Get(key.Server, tokenItem(key))
	if err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			return nil, ErrNotStored
		}
		return nil, fmt.Errorf("reading token of server %q from the keyring: %w", key.Server, err)
	}
	var st storedToken
	if err := json.Unmarshal([]byte(sec.Reveal()), &st); err != nil {
		return nil, fmt.Errorf("keyring item %q of server %q is not a token set (remove it with `mediator auth logout %s`)", tokenItem(key), key.Server, key.Server)
	}
	// The hash in the item name could collide; the stored binding cannot lie.
	if st.Issuer != key.Issuer || st.ClientID != key.ClientID || st.Resource != key.Resource {
		return nil, ErrNotStored
	}
	return &Token{
		AccessToken:   credentials.NewSecret(st.AccessToken),
		RefreshToken:  credentials.NewSecret(st.RefreshToken),
		TokenType:     st.TokenType,
		Expiry:        st.Expiry,
		Issued:        st.Issued,
		Scopes:        st.Scopes,
		PendingScopes: st.Pending,
	}, nil
}

func (s *KeyringStore) SaveToken(_ context.Context, key TokenKey, tok *Token) error {
	b, err := json.Marshal(storedToken{
		Issuer: key.Issuer, ClientID: key.ClientID, Resource: key.Resource,
		AccessToken: tok.AccessToken.Reveal(), RefreshToken: tok.RefreshToken.Reveal(),
		TokenType: tok.TokenType, Expiry: tok.Expiry, Issued: tok.Issued, Scopes: tok.Scopes, Pending: tok.PendingScopes,
	})
	if err != nil {
		return fmt.Errorf("encoding token of server %q: %w", key.Server, err)
	}
	return s.setIndexed(key.Server, tokenItem(key), credentials.NewSecret(string(b)))
}

func (s *KeyringStore) LoadRegistration(_ context.Context, server, issuer string) (*Registration, error) {
	sec, err := s.Secrets.Get(server, registrationItem(issuer))
	if err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			return nil, ErrNotStored
		}
		return nil, fmt.Errorf("reading client registration of server %q from the keyring: %w", server, err)
	}
	var sr storedRegistration
	if err := json.Unmarshal([]byte(sec.Reveal()), &sr); err != nil || sr.Issuer != issuer {
		return nil, ErrNotStored
	}
	return &Registration{Issuer: sr.Issuer, ClientID: sr.ClientID, ClientSecret: credentials.NewSecret(sr.ClientSecret), AuthMethod: sr.AuthMethod, RedirectURIs: sr.RedirectURIs, GrantTypes: sr.GrantTypes}, nil
}

func (s *KeyringStore) SaveRegistration(_ context.Context, server string, reg *Registration) error {
	b, err := json.Marshal(storedRegistration{Issuer: reg.Issuer, ClientID: reg.ClientID, ClientSecret: reg.ClientSecret.Reveal(), AuthMethod: reg.AuthMethod, RedirectURIs: reg.RedirectURIs, GrantTypes: reg.GrantTypes})
	if err != nil {
		return fmt.Errorf("encoding client registration of server %q: %w", server, err)
	}
	return s.setIndexed(server, registrationItem(reg.Issuer), credentials.NewSecret(string(b)))
}

func (s *KeyringStore) index(server string) ([]string, error) {
	sec, err := s.Secrets.Get(server, keyringIndexItem)
	if errors.Is(err, credentials.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading oauth index of server %q: %w", server, err)
	}
	var names []string
	if err := json.Unmarshal([]byte(sec.Reveal()), &names); err != nil {
		return nil, fmt.Errorf("keyring item %q of server %q is corrupt: %w", keyringIndexItem, server, err)
	}
	return names, nil
}

func (s *KeyringStore) setIndexed(server, name string, v credentials.Secret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.index(server)
	if err != nil {
		return err
	}
	if !slices.Contains(names, name) {
		names = append(names, name)
		b, _ := json.Marshal(names)
		if err := s.Secrets.Set(server, keyringIndexItem, credentials.NewSecret(string(b))); err != nil {
			return fmt.Errorf("writing oauth index of server %q: %w", server, err)
		}
	}
	if err := s.Secrets.Set(server, name, v); err != nil {
		return fmt.Errorf("writing keyring item %q of server %q: %w", name, server, err)
	}
	return nil
}

func (s *KeyringStore) Forget(_ context.Context, server string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.index(server)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range append(names, keyringIndexItem) {
		if err := s.Secrets.Remove(server, n); err != nil && !errors.Is(err, credentials.ErrNotFound) {
			errs = append(errs, fmt.Errorf("removing keyring item %q of server %q: %w", n, server, err))
		}
	}
	return errors.Join(errs...)
}

// StoredLogin describes one stored token set without any secret: what
// `mediator auth status` shows.
type StoredLogin struct {
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client_id"`
	Resource  string    `json:"resource"`
	TokenType string    `json:"token_type"`
	Scopes    []string  `json:"scopes"`
	Expiry    time.Time `json:"expiry,omitzero"`
	// Refreshable says a refresh token is stored, so an expired access
	// token can be renewed without the user.
	Refreshable bool `json:"refreshable"`
	// PendingScopes are scopes the server asked for beyond this login;
	// the next login requests them.
	PendingScopes []string `json:"pending_scopes,omitempty"`
}

// StoredClient describes one stored client registration without its secret,
// or the authorization server a configured client is pinned to.
type StoredClient struct {
	Issuer     string `json:"issuer"`
	ClientID   string `json:"client_id"`
	AuthMethod string `json:"auth_method,omitempty"`
	// Configured marks a client from the config, pinned to the issuer it
	// was first used with.
	Configured bool `json:"configured,omitempty"`
}

// Inventory is everything a store holds for one server, without secrets.
type Inventory struct {
	Logins  []StoredLogin  `json:"logins"`
	Clients []StoredClient `json:"clients"`
}

// Inventory lists the server's tokens and registrations.
func (m *MemoryStore) Inventory(_ context.Context, server string) (*Inventory, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv := &Inventory{Logins: []StoredLogin{}, Clients: []StoredClient{}}
	for k, t := range m.tokens {
		if k.Server == server {
			inv.Logins = append(inv.Logins, describeToken(k.Issuer, k.ClientID, k.Resource, &t))
		}
	}
	for k, r := range m.regs {
		if k[0] == server {
			inv.Clients = append(inv.Clients, StoredClient{Issuer: r.Issuer, ClientID: r.ClientID, AuthMethod: r.AuthMethod})
		}
	}
	for k, iss := range m.pins {
		if k[0] == server {
			inv.Clients = append(inv.Clients, StoredClient{Issuer: iss, ClientID: k[1], Configured: true})
		}
	}
	inv.sort()
	return inv, nil
}

// Inventory lists the server's tokens and registrations through its index.
func (s *KeyringStore) Inventory(ctx context.Context, server string) (*Inventory, error) {
	s.mu.Lock()
	names, err := s.index(server)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	inv := &Inventory{Logins: []StoredLogin{}, Clients: []StoredClient{}}
	for _, n := range names {
		sec, err := s.Secrets.Get(server, n)
		if errors.Is(err, credentials.ErrNotFound) {
			continue // removed by hand; Forget still tidies the index
		}
		if err != nil {
			return nil, fmt.Errorf("reading keyring item %q of server %q: %w", n, server, err)
		}
		switch {
		case strings.HasPrefix(n, "oauth-token-"):
			var st storedToken
			if json.Unmarshal([]byte(sec.Reveal()), &st) != nil {
				return nil, fmt.Errorf("keyring item %q of server %q is not a token set (remove it with `mediator auth logout %s`)", n, server, server)
			}
			t := Token{RefreshToken: credentials.NewSecret(st.RefreshToken), TokenType: st.TokenType, Expiry: st.Expiry, Scopes: st.Scopes, PendingScopes: st.Pending}
			inv.Logins = append(inv.Logins, describeToken(st.Issuer, st.ClientID, st.Resource, &t))
		case strings.HasPrefix(n, "oauth-client-"):
			var sr storedRegistration
			if json.Unmarshal([]byte(sec.Reveal()), &sr) != nil {
				return nil, fmt.Errorf("keyring item %q of server %q is not a client registration (remove it with `mediator auth logout %s`)", n, server, server)
			}
			inv.Clients = append(inv.Clients, StoredClient{Issuer: sr.Issuer, ClientID: sr.ClientID, AuthMethod: sr.AuthMethod})
		case strings.HasPrefix(n, "oauth-pin-"):
			var p storedPin
			if json.Unmarshal([]byte(sec.Reveal()), &p) != nil {
				return nil, fmt.Errorf("keyring item %q of server %q is not a client's authorization server (remove it with `mediator auth logout %s`)", n, server, server)
			}
			inv.Clients = append(inv.Clients, StoredClient{Issuer: p.Issuer, ClientID: p.ClientID, Configured: true})
		}
	}
	inv.sort()
	return inv, nil
}

func describeToken(issuer, clientID, resource string, t *Token) StoredLogin {
	scopes := slices.Clone(t.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	var pending []string
	for _, p := range t.PendingScopes {
		if !slices.Contains(scopes, p) {
			pending = append(pending, p)
		}
	}
	return StoredLogin{Issuer: issuer, ClientID: clientID, Resource: resource, TokenType: t.TokenType, Scopes: scopes, Expiry: t.Expiry, Refreshable: !t.RefreshToken.IsZero(), PendingScopes: pending}
}

func (inv *Inventory) sort() {
	slices.SortFunc(inv.Logins, func(a, b StoredLogin) int {
		return strings.Compare(a.Issuer+"\x00"+a.ClientID+"\x00"+a.Resource, b.Issuer+"\x00"+b.ClientID+"\x00"+b.Resource)
	})
	slices.SortFunc(inv.Clients, func(a, b StoredClient) int {
		return strings.Compare(a.Issuer+"\x00"+a.ClientID, b.Issuer+"\x00"+b.ClientID)
	})
}

// DPoPKey returns the server's DPoP key, generating and storing one at the
// first use. It is kept (and forgotten at logout) with the tokens bound to
// it.
func (s *KeyringStore) DPoPKey(_ context.Context, server string) (*ecdsa.PrivateKey, error) {
	sec, err := s.Secrets.Get(server, dpopKeyItem)
	if err == nil {
		block, _ := pem.Decode([]byte(sec.Reveal()))
		if block != nil {
			if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				if ek, ok := k.(*ecdsa.PrivateKey); ok {
					return ek, nil
				}
			}
		}
		return nil, fmt.Errorf("keyring item %q of server %q is not a DPoP key (remove it with `mediator auth logout %s`)", dpopKeyItem, server, server)
	}
	if !errors.Is(err, credentials.ErrNotFound) {
		return nil, fmt.Errorf("reading the DPoP key of server %q: %w", server, err)
	}
	k, err := GenerateDPoPKey()
	if err != nil {
		return nil, fmt.Errorf("generating the DPoP key of server %q: %w", server, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding the DPoP key of server %q: %w", server, err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := s.setIndexed(server, dpopKeyItem, credentials.NewSecret(string(p))); err != nil {
		return nil, err
	}
	return k, nil
}
