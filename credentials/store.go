package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/keyring"
)

// ErrNotFound is returned when a server has no item of that name.
var ErrNotFound = errors.New("secret not found")

// ErrLocked means the keyring holds the items but will not hand them out
// until its user unlocks it (a locked Secret Service collection).
var ErrLocked = errors.New("keyring locked")

// ErrUnreachable means the keyring stopped answering: its process or the
// D-Bus session bus went away, or a call got no reply in time.
var ErrUnreachable = errors.New("keyring unreachable")

// Options configures Open.
type Options struct {
	// Backend is "auto" (or empty) or one of file, keychain, secret-service,
	// kwallet, pass, wincred, keyctl; see ValidBackends.
	Backend string
	// FileDir is the directory of the file backend, created with mode 0700
	// if missing. A leading "~/" is expanded; other expansion (${VAR}) is
	// the caller's job. Required when the file backend is chosen or may be
	// reached by "auto".
	FileDir string
	// Passphrase returns the file backend's passphrase. It is called at most
	// once per Open, and only if the file backend is tried; prompt names the
	// keyring directory. A CLI would return MEDIATOR_KEYRING_PASSPHRASE when
	// set, else read the passphrase without echo from the terminal:
	//
	//	Passphrase: func(prompt string) (string, error) {
	//		if p := os.Getenv(credentials.PassphraseEnv); p != "" {
	//			return p, nil
	//		}
	//		return readNoEcho(prompt) // e.g. golang.org/x/term.ReadPassword
	//	}
	//
	// Nil means: the MEDIATOR_KEYRING_PASSPHRASE environment variable (read
	// through Env), else an error wrapping ErrNoPassphrase. An empty
	// passphrase is refused: the file backend never stores secrets
	// unencrypted.
	Passphrase func(prompt string) (string, error)
	// ServiceName defaults to "mediator". It names the keyring service and
	// prefixes every item key.
	ServiceName string
	// LibSecretCollection is the Secret Service collection (default
	// "login"): an alias such as "default", or a collection's id.
	LibSecretCollection string
	// Env reads the environment: DBUS_SESSION_BUS_ADDRESS and
	// XDG_RUNTIME_DIR lead to the Secret Service (and KWallet), and
	// MEDIATOR_KEYRING_PASSPHRASE is the file backend's passphrase when
	// Passphrase is nil. Nil means os.LookupEnv.
	Env func(key string) (string, bool)
	// Logger, when set, gets a debug record for each backend "auto" skips.
	Logger *slog.Logger

	// secretServiceTimeout, when set, replaces secretServiceTimeout (tests).
	secretServiceTimeout time.Duration
}

func (o Options) env() func(string) (string, bool) {
	if o.Env == nil {
		return os.LookupEnv
	}
	return o.Env
}

// Item names one stored secret; it never carries the value.
type Item struct {
	Server string `json:"server"`
	Name   string `json:"name"`
}

// Store is the keyring-backed secret store. Its methods are safe for
// concurrent use.
type Store struct {
	// mu serialises keyring calls: backends keep unsynchronised state (the
	// Secret Service session, the file backend's cached passphrase).
	mu       sync.Mutex
	ring     keyring.Keyring
	backend  string
	service  string
	location string
	redactor *Redactor
	// auditItem is the audit key's item as Open decrypted it to check the
	// file backend's passphrase: AuditKey uses it rather than derive the
	// file key once more (thousands of hash rounds per item read).
	auditItem []byte
}

// Format prints a summary. Without it, %s on a *Store would make fmt
// dereference the backend, and the file backend caches its passphrase.
func (s *Store) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "credentials.Store{backend: %s, location: %q}", s.backend, s.location)
}

// Backend names the backend in use, e.g. "file".
func (s *Store) Backend() string { return s.backend }

// Location says where the backend keeps the items, for messages such as
// `mediator secret list`: the directory of the file backend, the collection
// of the Secret Service, "" for the others.
func (s *Store) Location() string { return s.location }

// Redactor holds every secret value this store has handed out or stored
// (and the file backend's passphrase), for masking audit records and logs.
func (s *Store) Redactor() *Redactor { return s.redactor }

// Get returns the secret, or an error wrapping ErrNotFound.
func (s *Store) Get(server, name string) (Secret, error) {
	key, err := itemKey(s.service, server, name)
	if err != nil {
		return Secret{}, err
	}
	s.mu.Lock()
	item, err := s.ring.Get(key)
	s.mu.Unlock()
	if errors.Is(err, keyring.ErrKeyNotFound) {
		return Secret{}, s.notFound(server, name, fmt.Sprintf("store it with: mediator secret set %s %s", shellQuote(server), shellQuote(name)))
	}
	if err != nil {
		return Secret{}, fmt.Errorf("reading secret %q of server %q: %w", name, server, s.backendErr(err))
	}
	secret := NewSecret(string(item.Data))
	if secret.IsZero() {
		return Secret{}, fmt.Errorf("secret %q of server %q is stored empty in the %s keyring: set it again with: mediator secret set %s %s",
			name, server, s.backend, shellQuote(server), shellQuote(name))
	}
	s.redactor.Add(secret)
	return secret, nil
}

// Set stores the secret, replacing any earlier value.
func (s *Store) Set(server, name string, value Secret) error {
	key, err := itemKey(s.service, server, name)
	if err != nil {
		return err
	}
	if value.IsZero() {
		return fmt.Errorf("refusing to store an empty secret %q for server %q: give a non-empty value", name, server)
	}
	s.redactor.Add(value)
	s.mu.Lock()
	err = s.ring.Set(keyring.Item{
		Key:         key,
		Data:        []byte(value.Reveal()),
		Label:       fmt.Sprintf("%s: %s/%s", s.service, server, name),
		Description: "credential of an MCP server, used by mediator",
	})
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("storing secret %q of server %q: %w", name, server, s.backendErr(err))
	}
	return nil
}

// Remove deletes the secret; an error wrapping ErrNotFound if it was absent.
func (s *Store) Remove(server, name string) error {
	key, err := itemKey(s.service, server, name)
	if err != nil {
		return err
	}
	notFound := s.notFound(server, name, fmt.Sprintf("see: mediator secret list %s", shellQuote(server)))
	s.mu.Lock()
	defer s.mu.Unlock()
	// Some backends (keyring's KWallet) report success for a missing item,
	// so look first.
	keys, err := s.ring.Keys()
	if err != nil {
		return fmt.Errorf("removing secret %q of server %q: %w", name, server, s.backendErr(err))
	}
	if !slices.Contains(keys, key) {
		return notFound
	}
	if err := s.ring.Remove(key); err != nil {
		if errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
			return notFound
		}
		return fmt.Errorf("removing secret %q of server %q: %w", name, server, s.backendErr(err))
	}
	return nil
}

// List returns the items of one server, or of all servers when server is "",
// sorted by server then name.
func (s *Store) List(server string) ([]Item, error) {
	if server != "" {
		if err := ValidateName("server", server); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	keys, err := s.ring.Keys()
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("listing secrets: %w", s.backendErr(err))
	}
	items := []Item{}
	for _, k := range keys {
		srv, name, ok := parseItemKey(s.service, k)
		if !ok || server != "" && srv != server {
			continue
		}
		items = append(items, Item{Server: srv, Name: name})
	}
	slices.SortFunc(items, func(a, b Item) int {
		return cmp.Or(strings.Compare(a.Server, b.Server), strings.Compare(a.Name, b.Name))
	})
	return slices.Compact(items), nil
}

func (s *Store) notFound(server, name, hint string) error {
	return fmt.Errorf("%w: server %q has no secret %q in the %s keyring; %s", ErrNotFound, server, name, s.backend, hint)
}

// ForServer returns a view that can read and write only that server's
// secrets.
func (s *Store) ForServer(server string) *ServerSecrets {
	return &ServerSecrets{store: s, server: server}
}

// ServerSecrets is one server's slice of the store. It satisfies
// connectors.SecretSource, and with Set and Remove connectors.SecretWriter. Item keys escape '/' in names, so no name can
// address another server's item.
type ServerSecrets struct {
	store  *Store
	server string
}

// Format prints a summary that never reaches into the store.
func (v *ServerSecrets) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "credentials.ServerSecrets{server: %q}", v.server)
}

// Server names the server this view is scoped to.
func (v *ServerSecrets) Server() string { return v.server }

// Secret returns the named secret of this server.
func (v *ServerSecrets) Secret(ctx context.Context, name string) (Secret, error) {
	if err := ctx.Err(); err != nil {
		return Secret{}, fmt.Errorf("reading secret %q of server %q: %w", name, v.server, err)
	}
	return v.store.Get(v.server, name)
}

// Set stores one item of this server, replacing any earlier value. It is
// how an auth flow persists what it obtained for this server (OAuth tokens,
// a dynamic client registration); the item key rules are Store.Set's, so
// no name can reach another server's items.
func (v *ServerSecrets) Set(ctx context.Context, name string, value Secret) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storing secret %q of server %q: %w", name, v.server, err)
	}
	return v.store.Set(v.server, name, value)
}

// Remove deletes one item of this server; an error wrapping ErrNotFound if
// it was absent.
func (v *ServerSecrets) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("removing secret %q of server %q: %w", name, v.server, err)
	}
	return v.store.Remove(v.server, name)
}

// shellQuote quotes s for a POSIX shell when it needs it, so the commands
// suggested in errors can be pasted as they are.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/@+=", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
