package credentials

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/99designs/keyring"

	"github.com/mediatorhq/mediator/internal/privfile"
)

// Backend names, as accepted by Options.Backend and the credentials.backend
// config key. They equal keyring's own backend type names.
const (
	BackendAuto          = "auto"
	BackendFile          = "file"
	BackendKeychain      = "keychain"
	BackendSecretService = "secret-service"
	BackendKWallet       = "kwallet"
	BackendPass          = "pass"
	BackendWinCred       = "wincred"
	BackendKeyctl        = "keyctl"
)

// DefaultServiceName is the keyring service name of mediator's items.
const DefaultServiceName = "mediator"

// DefaultLibSecretCollection is the Secret Service collection used unless
// Options say otherwise. It is the collection a desktop login unlocks; any
// other one makes the Secret Service ask through a GUI prompt, which fails
// on a headless machine.
const DefaultLibSecretCollection = "login"

// ValidBackends lists every valid Options.Backend value, "auto" first.
func ValidBackends() []string {
	return []string{BackendAuto, BackendFile, BackendKeychain, BackendSecretService, BackendKWallet, BackendPass, BackendWinCred, BackendKeyctl}
}

// autoOrder is the order in which "auto" tries backends on this OS: the
// desktop's own store first, then the encrypted file. pass and keyctl are
// left out on purpose (see autoExcluded).
func autoOrder() []string {
	switch runtime.GOOS {
	case "darwin":
		return []string{BackendKeychain, BackendFile}
	case "windows":
		return []string{BackendWinCred, BackendFile}
	default:
		return []string{BackendSecretService, BackendKWallet, BackendFile}
	}
}

// autoExcluded explains why auto never picks pass or keyctl.
const autoExcluded = "auto never picks pass (it runs gpg, which may stop and wait for a passphrase) " +
	"or keyctl (the kernel keyring forgets every item at reboot); set credentials.backend to either to use it"

// BackendAttempt records why one backend was not usable.
type BackendAttempt struct {
	Backend string
	Err     error
}

// NoBackendError is Open's error when "auto" found no working backend.
type NoBackendError struct {
	GOOS  string
	Tried []BackendAttempt
}

func (e *NoBackendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no keyring backend works on this machine (%s); tried:", e.GOOS)
	for _, t := range e.Tried {
		fmt.Fprintf(&b, "\n  %s: %v", t.Backend, t.Err)
	}
	b.WriteString("\n" + autoExcluded + ".")
	fmt.Fprintf(&b, "\nTo keep secrets in a passphrase-encrypted file instead, set in the config\n"+
		"  credentials:\n    backend: file\n    file_dir: DIR\n"+
		"and export %s=... (or enter the passphrase when mediator asks for it).", PassphraseEnv)
	return b.String()
}

// Unwrap exposes each backend's error, so errors.Is(err, ErrWrongPassphrase)
// and similar checks see through.
func (e *NoBackendError) Unwrap() []error {
	errs := make([]error, 0, len(e.Tried))
	for _, t := range e.Tried {
		errs = append(errs, t.Err)
	}
	return errs
}

// Open opens the configured backend. With "auto" it tries each available
// backend with a real write/read/delete and keeps the first that works.
//
// Every backend gets that test write, because on a headless Linux machine
// the Secret Service can open fine and refuse every write. For the file
// backend Open decrypts one existing item instead, so a wrong passphrase
// is reported here rather than at the first connection, and then writes a
// plain file: each encrypted item read or written costs a key derivation.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.ServiceName == "" {
		opts.ServiceName = DefaultServiceName
	}
	if opts.LibSecretCollection == "" {
		opts.LibSecretCollection = DefaultLibSecretCollection
	}
	if err := ValidateName("keyring service name", opts.ServiceName); err != nil {
		return nil, err
	}
	switch b := opts.Backend; {
	case b == "" || b == BackendAuto:
		return openAuto(ctx, opts)
	case slices.Contains(ValidBackends(), b):
		s, err := openBackend(ctx, opts, b)
		if err != nil {
			return nil, fmt.Errorf("keyring backend %s: %w", b, err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown keyring backend %q: valid are %s", b, strings.Join(ValidBackends(), ", "))
	}
}

func openAuto(ctx context.Context, opts Options) (*Store, error) {
	var tried []BackendAttempt
	for _, b := range autoOrder() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("choosing a keyring backend: %w", err)
		}
		s, err := openBackend(ctx, opts, b)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrLocked) {
			// The user's secrets are most likely in there: falling back to
			// another backend would report them missing.
			return nil, fmt.Errorf("keyring backend %s: %w", b, err)
		}
		if opts.Logger != nil {
			opts.Logger.DebugContext(ctx, "keyring backend not usable", "backend", b, "reason", err.Error())
		}
		tried = append(tried, BackendAttempt{Backend: b, Err: err})
	}
	return nil, &NoBackendError{GOOS: runtime.GOOS, Tried: tried}
}

func openBackend(ctx context.Context, opts Options, backend string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if why := unavailableReason(backend, opts.env()); why != "" {
		return nil, errors.New(why)
	}
	s := &Store{backend: backend, service: opts.ServiceName, redactor: NewRedactor()}
	ring, err := s.openRing(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.ring = ring
	verified := false
	if backend == BackendFile {
		verified, err = s.verifyPassphrase()
		if err == nil && verified {
			// The passphrase decrypted an item: a test item would only
			// cost two more key derivations to show the same.
			err = fileWritable(s.location)
		}
	}
	if err == nil && !verified {
		err = s.canary()
	}
	if err != nil {
		if ss, ok := ring.(*secretService); ok {
			ss.close()
		}
		return nil, err
	}
	return s, nil
}

// openRing opens s.backend and sets s.location. The Secret Service is
// mediator's own client (see secretService) on the session bus opts.Env
// leads to; the other backends are keyring's.
func (s *Store) openRing(ctx context.Context, opts Options) (keyring.Keyring, error) {
	if s.backend == BackendSecretService {
		address, err := sessionBusAddress(opts.env())
		if err != nil {
			return nil, err
		}
		s.location = "collection " + opts.LibSecretCollection
		return openSecretService(ctx, address, opts.LibSecretCollection, cmp.Or(opts.secretServiceTimeout, secretServiceTimeout))
	}
	var dir string // the file backend's
	cfg := keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.BackendType(s.backend)},
		ServiceName:     opts.ServiceName,
	}
	switch s.backend {
	case BackendFile:
		var err error
		if dir, err = prepareFileDir(opts.FileDir); err != nil {
			return nil, err
		}
		cfg.FileDir = dir
		cfg.FilePasswordFunc = passphraseFunc(opts.Passphrase, opts.env(), dir, s.redactor)
		s.location = dir
	case BackendKeyctl:
		// keyring has no default scope; "user" survives the session, so a
		// secret set in one shell is readable from the next.
		cfg.KeyCtlScope = "user"
	case BackendKWallet:
		cfg.KWalletAppID = opts.ServiceName
		cfg.KWalletFolder = opts.ServiceName
	case BackendKeychain:
		// Trusted, so reading back our own items does not prompt each time;
		// not synchronizable, so credentials stay on this machine.
		cfg.KeychainTrustApplication = true
		cfg.KeychainAccessibleWhenUnlocked = true
	}
	ring, err := keyring.Open(cfg)
	if errors.Is(err, keyring.ErrNoAvailImpl) {
		return nil, errors.New(openFailureReason(s.backend))
	}
	return ring, err
}

// unavailableReason says why backend cannot be used in this process, or
// "" when it can; keyring itself only answers "not available". env is
// Options.Env.
func unavailableReason(backend string, env func(string) (string, bool)) string {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	switch backend {
	case BackendSecretService:
		if runtime.GOOS != "linux" {
			return "the Secret Service is supported only on Linux (this is " + platform + ")"
		}
		if _, err := sessionBusAddress(env); err != nil {
			return err.Error()
		}
		return ""
	case BackendKWallet:
		if why := kwalletBusProblem(env); why != "" {
			return why
		}
	}
	if slices.Contains(keyring.AvailableBackends(), keyring.BackendType(backend)) {
		if backend == BackendPass {
			return passProblem()
		}
		return ""
	}
	switch backend {
	case BackendKeychain:
		if runtime.GOOS == "darwin" {
			return "this mediator binary was built without cgo, so it cannot reach the macOS Keychain"
		}
		return "the macOS Keychain exists only on macOS (this is " + platform + ")"
	case BackendWinCred:
		return "the Windows Credential Manager exists only on Windows (this is " + platform + ")"
	case BackendKeyctl:
		return "the kernel keyring exists only on Linux (this is " + platform + ")"
	case BackendPass:
		return "pass is not supported on " + platform
	case BackendKWallet:
		if runtime.GOOS != "linux" {
			return backend + " is supported only on Linux (this is " + platform + ")"
		}
		if os.Getenv("DISABLE_KWALLET") == "1" {
			return "disabled by DISABLE_KWALLET=1"
		}
		return "the D-Bus session bus named by DBUS_SESSION_BUS_ADDRESS did not answer when mediator started"
	}
	return "not available on " + platform
}

// kwalletBusProblem says why KWallet cannot be reached through the bus
// that env leads to. keyring's KWallet client uses the one session bus it
// found in the process environment at start, so any other bus (a test's
// private one) cannot be used.
func kwalletBusProblem(env func(string) (string, bool)) string {
	address, err := sessionBusAddress(env)
	if err != nil {
		return err.Error()
	}
	if own, _ := sessionBusAddress(os.LookupEnv); own != address {
		return "kwallet can use only the D-Bus session bus of mediator's own process environment, not " + busName(address)
	}
	return ""
}

// passProblem checks what pass needs before anything runs it: pass prints
// its own complaints straight to our stderr.
func passProblem() string {
	if _, err := exec.LookPath("pass"); err != nil {
		return "the pass program is not on PATH"
	}
	dir := os.Getenv("PASSWORD_STORE_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "cannot locate the password store: " + err.Error()
		}
		dir = filepath.Join(home, ".password-store")
	}
	if _, err := os.Stat(filepath.Join(dir, ".gpg-id")); err != nil {
		return "the password store at " + dir + " is not initialized (run: pass init GPG-KEY-ID)"
	}
	return ""
}

// openFailureReason explains keyring's bare "backend not available" from
// Open, which hides the cause.
func openFailureReason(backend string) string {
	switch backend {
	case BackendKWallet:
		return "KWallet (kwalletd) did not answer on the D-Bus session bus"
	case BackendKeyctl:
		return "cannot open the kernel's user keyring (a container's seccomp profile may block the keyctl system call)"
	}
	return "the backend could not be opened"
}

// prepareFileDir makes the file backend's directory, readable by its owner
// only, and returns its absolute path.
func prepareFileDir(fileDir string) (string, error) {
	if strings.TrimSpace(fileDir) == "" {
		return "", errors.New("no directory for the file keyring: set credentials.file_dir (for example ~/.local/share/mediator/keyring)")
	}
	dir, err := keyring.ExpandTilde(fileDir)
	if err != nil {
		return "", fmt.Errorf("file keyring directory %q: %w", fileDir, err)
	}
	if strings.HasPrefix(dir, "~") {
		return "", fmt.Errorf("file keyring directory %q: cannot expand %q; give an absolute path or one starting with ~/", fileDir, "~")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", fmt.Errorf("file keyring directory %q: %w", fileDir, err)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return "", fmt.Errorf("file keyring directory %s is a file, not a directory", dir)
	}
	// The items are encrypted, but their names say which servers and
	// credentials there are.
	if err := privfile.Dir(dir); err != nil {
		return "", fmt.Errorf("file keyring directory: %w", err)
	}
	return dir, nil
}

// verifyPassphrase decrypts one existing item (the audit key, which every
// audited call reads, else a server's) and reports whether there was one.
// Without it a wrong passphrase would go unnoticed until some connector
// needs its credential, and Set would meanwhile write items that the right
// passphrase cannot read. The audit key's item is kept for AuditKey.
func (s *Store) verifyPassphrase() (verified bool, err error) {
	keys, err := s.ring.Keys()
	if err != nil {
		return false, s.backendErr(err)
	}
	slices.Sort(keys)
	if i := slices.Index(keys, s.auditKeyKey()); i > 0 {
		keys[0], keys[i] = keys[i], keys[0]
	}
	for _, k := range keys {
		if _, _, ok := parseItemKey(s.service, k); !ok && k != s.auditKeyKey() {
			continue
		}
		item, err := s.ring.Get(k)
		switch {
		case err == nil:
			if k == s.auditKeyKey() {
				s.auditItem = item.Data
			}
			return true, nil
		case errors.Is(err, keyring.ErrKeyNotFound):
			return false, nil // removed meanwhile
		}
		return false, s.backendErr(err)
	}
	return false, nil
}

// fileWritable checks that the file backend can write items into dir,
// as the canary does for the other backends, without encrypting one.
func fileWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("opened, but a test write failed: %w", err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("opened, but a test delete failed: %w", err)
	}
	return nil
}

// canary writes, reads back and deletes a random item. Its key is not an
// item key (it has one separator, not two), so List never shows it, even if
// deleting it fails halfway.
func (s *Store) canary() error {
	var buf [24]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return fmt.Errorf("keyring test: %w", err)
	}
	key := escapeKeyPart(s.service) + "/.canary-" + hex.EncodeToString(buf[:8])
	value := []byte(hex.EncodeToString(buf[8:]))
	err := s.ring.Set(keyring.Item{
		Key:         key,
		Data:        value,
		Label:       s.service + " keyring check",
		Description: "written and deleted again by mediator to test the keyring",
	})
	if err != nil {
		return s.canaryErr("write", err)
	}
	item, err := s.ring.Get(key)
	if err != nil {
		_ = s.ring.Remove(key)
		return s.canaryErr("read", err)
	}
	if !bytes.Equal(item.Data, value) {
		_ = s.ring.Remove(key)
		return errors.New("opened, but a test item read back differs from what was written")
	}
	if err := s.ring.Remove(key); err != nil {
		return s.canaryErr("delete", err)
	}
	return nil
}

func (s *Store) canaryErr(op string, err error) error {
	if errors.Is(err, ErrLocked) || errors.Is(err, ErrUnreachable) {
		return err // Open names the backend already
	}
	err = s.backendErr(err)
	var pe *passphraseError
	if errors.As(err, &pe) || errors.Is(err, ErrWrongPassphrase) {
		return err
	}
	return fmt.Errorf("opened, but a test %s failed: %w", op, err)
}
