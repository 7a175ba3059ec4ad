package credentials

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/99designs/keyring"
)

// PassphraseEnv is the environment variable holding the file backend's
// passphrase when Options.Passphrase is nil.
const PassphraseEnv = "MEDIATOR_KEYRING_PASSPHRASE"

// PassphraseFileEnv names a file holding the passphrase (its first line),
// for services whose manager hands secrets over as files (systemd's
// LoadCredential); the command line reads it when PassphraseEnv is unset.
const PassphraseFileEnv = "MEDIATOR_KEYRING_PASSPHRASE_FILE"

// ErrNoPassphrase means the file backend got no passphrase: Options.Passphrase
// is nil and PassphraseEnv is unset, or the callback returned "".
var ErrNoPassphrase = errors.New("no passphrase")

// ErrWrongPassphrase means the file backend's items cannot be decrypted
// with the passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// passphraseError marks failures to obtain the passphrase, so they are not
// mistaken for decryption failures and reach the user unchanged.
type passphraseError struct{ err error }

func (e *passphraseError) Error() string { return e.err.Error() }
func (e *passphraseError) Unwrap() error { return e.err }

// wrongPassphraseError replaces keyring's "aes.KeyUnwrap(): integrity check
// failed." with something a user can act on; the cause stays reachable
// through errors.As but out of the message.
type wrongPassphraseError struct {
	dir   string
	cause error
}

func (e *wrongPassphraseError) Error() string {
	return fmt.Sprintf("wrong passphrase for the file keyring at %s: its items cannot be decrypted with it "+
		"(if the passphrase is right, an item file there is damaged)", e.dir)
}

func (e *wrongPassphraseError) Unwrap() []error { return []error{ErrWrongPassphrase, e.cause} }

// passphraseFunc adapts Options.Passphrase for keyring, which calls it once,
// at the first read or write, and would dereference a nil function. The
// passphrase is registered with the redactor like any other secret.
func passphraseFunc(get func(prompt string) (string, error), env func(string) (string, bool), dir string, red *Redactor) keyring.PromptFunc {
	return func(string) (string, error) {
		var (
			p   string
			err error
		)
		if get != nil {
			p, err = get(fmt.Sprintf("Passphrase for the mediator keyring at %s", dir))
			if err != nil {
				return "", &passphraseError{fmt.Errorf("reading the passphrase for the file keyring at %s: %w", dir, err)}
			}
			if p == "" {
				return "", &passphraseError{fmt.Errorf("%w for the file keyring at %s: the passphrase given is empty, which would leave the secrets unprotected", ErrNoPassphrase, dir)}
			}
		} else if p, _ = env(PassphraseEnv); p == "" {
			return "", &passphraseError{fmt.Errorf("%w for the file keyring at %s: set the %s environment variable", ErrNoPassphrase, dir, PassphraseEnv)}
		}
		red.Add(NewSecret(p))
		return p, nil
	}
}

// backendErr gives keyring's errors context. For the file backend it tells
// a decryption failure (wrong passphrase) apart from I/O errors.
func (s *Store) backendErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *passphraseError
	if errors.As(err, &pe) || errors.Is(err, keyring.ErrKeyNotFound) {
		return err
	}
	if s.backend != BackendFile {
		return fmt.Errorf("%s keyring: %w", s.backend, err)
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return fmt.Errorf("file keyring at %s: %w", s.location, err)
	}
	// What is left comes from decrypting (jose) or decoding the decrypted
	// item, which authenticated encryption makes fail only for a wrong key.
	return &wrongPassphraseError{dir: s.location, cause: err}
}
