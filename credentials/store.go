package credentials

import (
	"context"
	"errors"
)

// ErrNotFound is returned when a server has no item of that name.
var ErrNotFound = errors.New("secret not found")

// Options configures Open.
type Options struct {
	// Backend is "auto" (or empty) or one of file, keychain, secret-service,
	// kwallet, pass, wincred, keyctl.
	Backend string
	// FileDir is the directory of the file backend.
	FileDir string
	// Passphrase returns the file backend's passphrase. Nil means: the
	// MEDIATOR_KEYRING_PASSPHRASE environment variable, else an error.
	Passphrase func(prompt string) (string, error)
	// ServiceName defaults to "mediator".
	ServiceName string
	// LibSecretCollection is the Secret Service collection (default "login").
	LibSecretCollection string
}

// Item names one stored secret; it never carries the value.
type Item struct {
	Server string `json:"server"`
	Name   string `json:"name"`
}

// Store is the keyring-backed secret store.
type Store struct {
	// filled in by the implementation
	backend string
}

// Open opens the configured backend. With "auto" it tries each available
// backend with a real write/read/delete and keeps the first that works.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return nil, errors.New("credentials.Open: not implemented yet")
}

// Backend names the backend in use, e.g. "file".
func (s *Store) Backend() string { return s.backend }

// Get returns the secret, or an error wrapping ErrNotFound.
func (s *Store) Get(server, name string) (Secret, error) {
	return Secret{}, errors.New("not implemented")
}

// Set stores the secret, replacing any earlier value.
func (s *Store) Set(server, name string, value Secret) error { return errors.New("not implemented") }

// Remove deletes the secret; an error wrapping ErrNotFound if it was absent.
func (s *Store) Remove(server, name string) error { return errors.New("not implemented") }

// List returns the items of one server, or of all servers when server is "".
func (s *Store) List(server string) ([]Item, error) { return nil, errors.New("not implemented") }

// ForServer returns a view that can read only that server's secrets.
func (s *Store) ForServer(server string) *ServerSecrets {
	return &ServerSecrets{store: s, server: server}
}

// ServerSecrets is one server's slice of the store. It satisfies
// connectors.SecretSource.
type ServerSecrets struct {
	store  *Store
	server string
}

// Secret returns the named secret of this server.
func (v *ServerSecrets) Secret(ctx context.Context, name string) (Secret, error) {
	return v.store.Get(v.server, name)
}
