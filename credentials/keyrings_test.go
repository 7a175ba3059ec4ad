package credentials

import "testing"

// openFunc opens a Store over the same items each time it is called, as
// another mediator process would; opts adds to the backend's own options.
type openFunc func(t *testing.T, opts Options) *Store

// forEachKeyring runs test against each real backend that can run here:
// the file backend in a temp dir, and gnome-keyring's Secret Service on a
// private D-Bus session bus (Linux; required when CI=true).
func forEachKeyring(t *testing.T, test func(t *testing.T, open openFunc)) {
	t.Run(BackendFile, func(t *testing.T) {
		dir := t.TempDir()
		test(t, func(t *testing.T, opts Options) *Store {
			t.Helper()
			opts.Backend, opts.FileDir, opts.Passphrase = BackendFile, dir, fixedPassphrase(testPassphrase)
			return mustOpen(t, opts)
		})
	})
	t.Run(BackendSecretService, func(t *testing.T) {
		test(t, secretServiceOpener(t))
	})
}

func mustOpen(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open %s: %v", opts.Backend, err)
	}
	return s
}
