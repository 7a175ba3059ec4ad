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
	Scopes    []string
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
	// Forget removes every token and registration of the server (logout).
	Forget(ctx context.Context, server string) error
}

// MemoryStore is a TokenStore that lives as long as the process.
type MemoryStore struct {
	mu     sync.Mutex
	tokens map[TokenKey]Token
	regs   map[[2]string]Registration
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tokens: map[TokenKey]Token{}, regs: map[[2]string]Registration{}}
}

func (m *MemoryStore) LoadToken(_ context.Context, key TokenKey) (*Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[key]
	if !ok {
		return nil, ErrNotStored
	}
	t.Scopes = slices.Clone(t.Scopes)
	return &t, nil
}

func (m *MemoryStore) SaveToken(_ context.Context, key TokenKey, tok *Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := *tok
	t.Scopes = slices.Clone(t.Scopes)
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

// storedToken is the keyring form. It exists only inside a Secret.
type storedToken struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	Resource     string    `json:"resource"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
}

type storedRegistration struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	AuthMethod   string   `json:"auth_method,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
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
		AccessToken:  credentials.NewSecret(st.AccessToken),
		RefreshToken: credentials.NewSecret(st.RefreshToken),
		TokenType:    st.TokenType,
		Expiry:       st.Expiry,
		Scopes:       st.Scopes,
	}, nil
}

func (s *KeyringStore) SaveToken(_ context.Context, key TokenKey, tok *Token) error {
	b, err := json.Marshal(storedToken{
		Issuer: key.Issuer, ClientID: key.ClientID, Resource: key.Resource,
		AccessToken: tok.AccessToken.Reveal(), RefreshToken: tok.RefreshToken.Reveal(),
		TokenType: tok.TokenType, Expiry: tok.Expiry, Scopes: tok.Scopes,
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
	return &Registration{Issuer: sr.Issuer, ClientID: sr.ClientID, ClientSecret: credentials.NewSecret(sr.ClientSecret), AuthMethod: sr.AuthMethod, RedirectURIs: sr.RedirectURIs}, nil
}

func (s *KeyringStore) SaveRegistration(_ context.Context, server string, reg *Registration) error {
	b, err := json.Marshal(storedRegistration{Issuer: reg.Issuer, ClientID: reg.ClientID, ClientSecret: reg.ClientSecret.Reveal(), AuthMethod: reg.AuthMethod, RedirectURIs: reg.RedirectURIs})
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
}

// StoredClient describes one stored client registration without its secret.
type StoredClient struct {
	Issuer     string `json:"issuer"`
	ClientID   string `json:"client_id"`
	AuthMethod string `json:"auth_method,omitempty"`
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
			t := Token{RefreshToken: credentials.NewSecret(st.RefreshToken), TokenType: st.TokenType, Expiry: st.Expiry, Scopes: st.Scopes}
			inv.Logins = append(inv.Logins, describeToken(st.Issuer, st.ClientID, st.Resource, &t))
		case strings.HasPrefix(n, "oauth-client-"):
			var sr storedRegistration
			if json.Unmarshal([]byte(sec.Reveal()), &sr) != nil {
				return nil, fmt.Errorf("keyring item %q of server %q is not a client registration (remove it with `mediator auth logout %s`)", n, server, server)
			}
			inv.Clients = append(inv.Clients, StoredClient{Issuer: sr.Issuer, ClientID: sr.ClientID, AuthMethod: sr.AuthMethod})
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
	return StoredLogin{Issuer: issuer, ClientID: clientID, Resource: resource, TokenType: t.TokenType, Scopes: scopes, Expiry: t.Expiry, Refreshable: !t.RefreshToken.IsZero()}
}

func (inv *Inventory) sort() {
	slices.SortFunc(inv.Logins, func(a, b StoredLogin) int {
		return strings.Compare(a.Issuer+"\x00"+a.ClientID+"\x00"+a.Resource, b.Issuer+"\x00"+b.ClientID+"\x00"+b.Resource)
	})
	slices.SortFunc(inv.Clients, func(a, b StoredClient) int { return strings.Compare(a.Issuer, b.Issuer) })
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
