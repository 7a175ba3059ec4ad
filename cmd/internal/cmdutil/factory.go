package cmdutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/term"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/privfile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Factory carries what commands depend on, so each can be run in a test
// with its own streams, environment and config. Commands read the function
// fields; New fills them with the real implementations.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// Version is mediator's version, set at build time.
	Version string
	// LookupEnv reads the environment (os.LookupEnv in main, a map in tests).
	LookupEnv config.Env
	// ReadPassword reads a line without echo from a terminal.
	ReadPassword func(fd int) ([]byte, error)

	// ConfigFlag and LogLevel hold the root command's --config and
	// --log-level flags.
	ConfigFlag string
	LogLevel   string
	// NoPrompt forbids prompts even on a terminal: shell completion runs
	// with the user's terminal as stdin while the shell waits for it.
	NoPrompt bool
	// NoDaemon is --no-daemon: commands work without a running daemon
	// even when one serves this config.
	NoDaemon bool

	// ConfigPath says which config file applies and whether the user named it.
	ConfigPath func() (path string, explicit bool, err error)
	// Config loads and validates that file. Problems confined to servers'
	// entries are no error here: they stay with their servers (see
	// config.Load), and CheckServer refuses such a server.
	Config func() (*config.Config, error)
	// Secrets opens the keyring the config selects, prompting for the file
	// backend's passphrase on a terminal when the environment has none.
	Secrets func(ctx context.Context, cfg *config.Config) (*credentials.Store, error)
	// Orchestrator builds an orchestrator over the named servers (all
	// usable ones when none are named), opening the keyring only if one of
	// them needs it. A named server whose entry has problems is an error.
	Orchestrator func(ctx context.Context, cfg *config.Config, servers ...string) (*orchestrator.Orchestrator, error)
	// HostOrchestrator is Orchestrator answering servers through host
	// instead of the command line's (a form on the terminal for an
	// elicitation, no sampling): `mediator chat` answers sampling with
	// its model and elicitation in its UI. Orchestrator calls it.
	HostOrchestrator func(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error)
	// Terminal is where commands ask the user what a server asks
	// (elicitation) and show a call's progress; made at first use, when
	// the flags (--no-prompt) are known. Every command's orchestrator
	// offers servers the same client features, so that the tools a
	// server lists (and the pins they are checked against) do not depend
	// on the command.
	Terminal func() *prompter.Terminal
	// Logger logs to stderr at --log-level.
	Logger func() *slog.Logger
	// OpenBrowser opens a URL in the system browser, without a shell
	// (`mediator auth login`).
	OpenBrowser func(ctx context.Context, url string) error

	// Temporal is set by the mediator-temporal binary; nil in mediator.
	Temporal *Temporal

	// Redactor learns every secret value this process handles (through the
	// keyring it opens), so commands can scrub what they print.
	Redactor *credentials.Redactor

	// Shutdowns follows the stdio servers the commands' orchestrators
	// closed, which may still be exiting when a command returns.
	Shutdowns *connectors.Shutdowns
	// DetachServers lets Close hand the servers still exiting to a
	// watchdog process and return (connectors.Shutdowns.Detach); only
	// main, which runs the watchdog when it is started as one, sets it.
	// Otherwise Close waits for them.
	DetachServers bool

	// stderrMu serialises the logger's and the stdio servers' writes to
	// ErrOut, which arrive from their own goroutines.
	stderrMu sync.Mutex
	logsMu   sync.Mutex
	logs     []*ServerLog // flushed by Close
}

// New returns a Factory wired to the real config loader, keyring and
// orchestrator.
func New(ios *iostreams.IOStreams, version string, lookupEnv config.Env) *Factory {
	f := &Factory{
		IOStreams:    ios,
		Version:      version,
		LookupEnv:    lookupEnv,
		ReadPassword: term.ReadPassword,
		LogLevel:     "warn",
		Redactor:     credentials.NewRedactor(),
		Shutdowns:    &connectors.Shutdowns{},
	}
	f.ConfigPath = func() (string, bool, error) { return config.Locate(f.ConfigFlag, f.LookupEnv) }
	f.Config = func() (*config.Config, error) {
		path, explicit, err := f.ConfigPath()
		if err != nil {
			return nil, Errorf(ExitUsage, "locating the config file: %v", err)
		}
		cfg, err := config.Load(config.LoadOptions{Path: path, Explicit: explicit, Env: f.LookupEnv})
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		if err := f.securePrivateDirs(cfg); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		return cfg, nil
	}
	f.Logger = func() *slog.Logger {
		level, _ := ParseLogLevel(f.LogLevel)
		return slog.New(slog.NewTextHandler(lockedWriter{&f.stderrMu, f.IOStreams.ErrOut}, &slog.HandlerOptions{Level: level}))
	}
	f.OpenBrowser = oauth.OpenBrowser
	f.Secrets = f.openSecrets
	f.HostOrchestrator = f.newOrchestrator
	f.Orchestrator = func(ctx context.Context, cfg *config.Config, servers ...string) (*orchestrator.Orchestrator, error) {
		return f.HostOrchestrator(ctx, cfg, f.host(), servers...)
	}
	f.Terminal = sync.OnceValue(func() *prompter.Terminal {
		return &prompter.Terminal{In: f.IOStreams.In, Out: f.IOStreams.TermErrOut,
			Interactive:  !f.NoPrompt && f.IOStreams.IsStdinTTY() && f.IOStreams.IsStderrTTY(),
			ShowProgress: f.IOStreams.IsStderrTTY(),
			// The keyring, once open, replaces f.Redactor.
			Redact: func(s string) string { return f.Redactor.Redact(s) }}
	})
	return f
}

// host is the command line's side of what servers ask of mediator: a
// form on a terminal for an elicitation (declined without one), a URL
// shown and never opened. It has no model, so sampling is not offered.
func (f *Factory) host() orchestrator.Host {
	if f.Terminal == nil {
		return orchestrator.Host{}
	}
	term := f.Terminal()
	return orchestrator.Host{
		Elicit: func(ctx context.Context, req *orchestrator.ElicitationRequest) (*mcp.ElicitResult, error) {
			return term.Elicit(ctx, req.ElicitationRequest)
		},
		ElicitURL: true,
	}
}

// securePrivateDirs makes the existing directories where mediator keeps
// private files (state, audit log, file keyring) its user's alone, before
// any command opens a file there, and says so when it narrows one: the
// packages that write the files narrow them too, but silently.
func (f *Factory) securePrivateDirs(cfg *config.Config) error {
	dirs := []string{cfg.StateDir, cfg.Credentials.FileDir}
	if cfg.Audit.Path != "" {
		dirs = append(dirs, filepath.Dir(cfg.Audit.Path))
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		was, err := privfile.SecureDir(dir)
		if err != nil {
			return err
		}
		if was != 0 {
			fmt.Fprintf(f.IOStreams.ErrOut, "warning: %s was open to other users (mode %04o); mediator keeps private files there, so it made it private (chmod 700)\n", dir, was)
		}
	}
	return nil
}

// ParseLogLevel accepts debug, info, warn and error.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil || strings.ContainsAny(s, "+-") {
		return slog.LevelWarn, fmt.Errorf("invalid log level %q; valid: debug, info, warn, error", s)
	}
	return l, nil
}

func (f *Factory) openSecrets(ctx context.Context, cfg *config.Config) (*credentials.Store, error) {
	store, err := f.openKeyring(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f.Redactor = store.Redactor()
	return store, nil
}

// openKeyring is Secrets without making the store's redactor the
// Factory's: the audit log opens the keyring during a call, while other
// goroutines may read f.Redactor.
func (f *Factory) openKeyring(ctx context.Context, cfg *config.Config) (*credentials.Store, error) {
	opts := cfg.CredentialOptions()
	fromEnv := false
	opts.Passphrase = func(prompt string) (string, error) {
		p, env, err := f.passphrase(prompt)
		fromEnv = env
		return p, err
	}
	opts.Env = f.LookupEnv // the Secret Service's session bus
	opts.Logger = f.Logger()
	store, err := credentials.Open(ctx, opts)
	if err != nil {
		if errors.Is(err, credentials.ErrWrongPassphrase) {
			// Say where the wrong one came from: a variable set long ago is
			// easy to forget.
			from := "the prompt"
			if fromEnv {
				from = "the environment variable " + credentials.PassphraseEnv + " (or the file " + credentials.PassphraseFileEnv + " names)"
			}
			return nil, fmt.Errorf("opening the keyring: %w; the passphrase tried came from %s", err, from)
		}
		return nil, fmt.Errorf("opening the keyring: %w", err)
	}
	return store, nil
}

// passphrase prefers the environment (the variable, else the file the
// _FILE variable names), so scripts, services and tests never block on a
// prompt; it prompts only on a terminal.
func (f *Factory) passphrase(prompt string) (p string, fromEnv bool, err error) {
	if p, ok := f.LookupEnv(credentials.PassphraseEnv); ok && p != "" {
		return p, true, nil
	}
	if path, ok := f.LookupEnv(credentials.PassphraseFileEnv); ok && path != "" {
		p, err := readPassphraseFile(path)
		return p, true, err
	}
	if !f.IOStreams.IsStdinTTY() || f.NoPrompt {
		return "", false, fmt.Errorf("%w: set %s (or %s to a file holding it), or run mediator in a terminal to be asked for it", credentials.ErrNoPassphrase, credentials.PassphraseEnv, credentials.PassphraseFileEnv)
	}
	p, err = f.Prompt(prompt)
	return p, false, err
}

// readPassphraseFile reads the passphrase from the first line of path
// (a trailing newline is not part of it). The errors never quote the
// file's content.
func readPassphraseFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: reading %s (named by %s): %v", credentials.ErrNoPassphrase, path, credentials.PassphraseFileEnv, errors.Unwrap(err))
	}
	p, _, _ := strings.Cut(string(b), "\n")
	p = strings.TrimSuffix(p, "\r")
	if p == "" {
		return "", fmt.Errorf("%w: %s (named by %s) is empty", credentials.ErrNoPassphrase, path, credentials.PassphraseFileEnv)
	}
	return p, nil
}

// Prompt asks for a value on the terminal without echoing it.
func (f *Factory) Prompt(prompt string) (string, error) {
	fmt.Fprintf(f.IOStreams.ErrOut, "%s: ", prompt)
	b, err := f.ReadPassword(f.IOStreams.StdinFd)
	fmt.Fprintln(f.IOStreams.ErrOut)
	if err != nil {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return string(b), nil
}

func (f *Factory) newOrchestrator(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error) {
	for _, name := range servers {
		if s, ok := cfg.Server(name); ok && s.Err() != nil {
			return nil, &ExitError{Code: ExitUsage, Err: s.Err()}
		}
	}
	opts := cfg.OrchestratorOptions(servers...)
	opts.Logger = f.Logger()
	opts.ClientInfo = &mcp.Implementation{Name: "mediator", Version: f.Version}
	needsSecrets := false
	for _, s := range opts.Servers {
		needsSecrets = needsSecrets || s.NeedsSecrets()
	}
	// With argument values in the audit log, every stored secret has to be
	// known before the first call, not only those of the servers in use: a
	// user may paste one server's key into another's arguments.
	maskAll := opts.AuditPath != "" && opts.AuditIncludeValues
	keys := &auditKeys{open: func(ctx context.Context) (*credentials.Store, error) { return f.openKeyring(ctx, cfg) }}
	if opts.AuditPath != "" {
		opts.AuditKeys = keys
	}
	if needsSecrets || maskAll {
		store, err := f.Secrets(ctx, cfg)
		if err != nil {
			if !needsSecrets {
				err = fmt.Errorf("audit.include_values is on, so mediator reads every keyring item to mask it in the audit log: %w", err)
			}
			return nil, err
		}
		opts.Secrets = store
		keys.store = store
		f.Redactor = store.Redactor() // whoever opened it
		// Once the keyring is open, learning the rest costs one read per
		// item and no prompt, and masks every stored secret in what the
		// commands print too. The keyring is not opened for that alone.
		if err := learnSecrets(store); err != nil {
			if maskAll {
				return nil, &ExitError{Code: ExitConnect, Err: fmt.Errorf("audit.include_values is on, but not every keyring item could be read to mask it: %w", err)}
			}
			opts.Logger.Warn("some keyring items are not masked in output", "error", store.Redactor().Redact(err.Error()))
		}
	}
	opts.Redactor = f.Redactor
	opts.Shutdowns = f.Shutdowns
	opts.Host = host
	// A stdio server's own log lines are noise unless the user asked for
	// more than warnings.
	if level, _ := ParseLogLevel(f.LogLevel); level < slog.LevelWarn {
		opts.Servers = f.serverLogs(opts.Servers)
	}
	opts.Stderr = io.Discard
	o, err := orchestrator.New(opts)
	if err != nil {
		var oe *orchestrator.Error
		if errors.As(err, &oe) {
			return nil, err
		}
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("config %s: %w", cfg.Path, err)}
	}
	return o, nil
}

// auditKeys hands the audit log its key from the keyring, which it opens
// only when the log first needs the key (at the first call), unless the
// servers' secrets opened it already: a command that makes no call never
// asks for the passphrase on its account. An open that failed is not
// tried again, so a failed prompt is not repeated at every call.
type auditKeys struct {
	open func(context.Context) (*credentials.Store, error)

	mu      sync.Mutex
	store   *credentials.Store
	openErr error
}

func (k *auditKeys) AuditKey(ctx context.Context, create bool) (credentials.AuditKey, error) {
	k.mu.Lock()
	if k.store == nil && k.openErr == nil {
		k.store, k.openErr = k.open(ctx)
	}
	store, err := k.store, k.openErr
	k.mu.Unlock()
	if err != nil {
		return credentials.AuditKey{}, err
	}
	return store.AuditKey(ctx, create)
}

// serverLogs gives each stdio server among servers (HTTP servers have no
// stderr) its own ServerLog, each line masked and prefixed with that
// server's name, and returns the servers so configured. The logs share
// the redactor and the lock on stderr, and Close flushes them.
func (f *Factory) serverLogs(servers []orchestrator.ServerConfig) []orchestrator.ServerConfig {
	out := slices.Clone(servers)
	for i := range out {
		s := &out[i]
		if s.Command == "" || s.NewTransport != nil || s.Stderr != nil {
			continue
		}
		l := NewServerLog(&f.stderrMu, f.IOStreams.ErrOut, s.Name, f.Redactor)
		f.logsMu.Lock()
		f.logs = append(f.logs, l)
		f.logsMu.Unlock()
		s.Stderr = l
	}
	return out
}

// serverExitWait is how long Close lets closed servers exit on their own
// before it hands the rest to the watchdog: a server that exits at once
// on EOF (a Go server takes about a millisecond) then costs no watchdog
// process, and one that takes longer (node: a third of a second) delays
// mediator by no more than this.
const serverExitWait = 2 * time.Millisecond

// Close sees the stdio servers' shutdown through, or hands it to a
// watchdog (DetachServers), and then writes out what they logged without
// a final newline. Run it once the orchestrators are closed.
func (f *Factory) Close() error {
	if f.DetachServers {
		ctx, cancel := context.WithTimeout(context.Background(), serverExitWait)
		_ = f.Shutdowns.Wait(ctx)
		cancel()
	}
	if !f.DetachServers || f.Shutdowns.Detach() != nil {
		// Bounded: a server that ignores its closed stdin is signalled.
		_ = f.Shutdowns.Wait(context.Background())
	}
	f.logsMu.Lock()
	logs := f.logs
	f.logs = nil
	f.logsMu.Unlock()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// learnSecrets has the store read every item of mediator's keyring, which
// registers each value with its redactor. OAuth items hold JSON; the
// tokens and client secrets inside are registered as well, since a server
// would echo a token, not the JSON document around it.
func learnSecrets(store *credentials.Store) error {
	items, err := store.List("")
	if err != nil {
		return err
	}
	red := store.Redactor()
	var errs []error
	for _, it := range items {
		s, err := store.Get(it.Server, it.Name)
		if errors.Is(err, credentials.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var fields map[string]any
		if json.Unmarshal([]byte(s.Reveal()), &fields) != nil {
			continue
		}
		for k, v := range fields {
			lk := strings.ToLower(k)
			if str, ok := v.(string); ok && (strings.Contains(lk, "secret") || strings.Contains(lk, "token") && lk != "token_type") {
				red.Add(credentials.NewSecret(str))
			}
		}
	}
	return errors.Join(errs...)
}
