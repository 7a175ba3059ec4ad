// Package daemon implements `mediator daemon`: mediator running
// unattended, serving /mcp (the serve block's face), the run API and the
// CLI's local socket, and firing the configured schedules; and `mediator
// daemon token create`.
package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	servecmd "github.com/mediatorhq/mediator/cmd/internal/commands/serve"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Options of `mediator daemon`.
type Options struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
	// Orchestrator builds the orchestrator over every usable server,
	// answering them through host.
	Orchestrator func(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error)
	// Logger is the daemon's: JSON on stderr, secrets masked.
	Logger   func() *slog.Logger
	Redactor func() *credentials.Redactor
	// Workflows are the workflow commands' dependencies (/mcp's workflow
	// tools).
	Workflows flowrun.Env
	// Listening, when set, is told the HTTP base URL once the daemon
	// serves (tests listen on port 0).
	Listening func(url string)
	// Reload delivers a reload request (SIGHUP); nil listens for SIGHUP.
	// Reloaded, when set, is told each reload's outcome (tests).
	Reload   <-chan os.Signal
	Reloaded func(err error)

	// Addr is --listen; "" takes daemon.listen.
	Addr           string
	InsecureListen bool
	// Grace is how long runs in progress get to finish on SIGTERM.
	Grace time.Duration
}

// DefaultGrace is --grace's default.
const DefaultGrace = 30 * time.Second

// NewCmdDaemon returns `mediator daemon` and `mediator daemon token`.
func NewCmdDaemon(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO:           f.IOStreams,
		Config:       f.Config,
		Secrets:      f.Secrets,
		Orchestrator: f.HostOrchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		Workflows:    flowrun.NewEnv(f),
		Grace:        DefaultGrace,
	}
	cmd := &cobra.Command{
		Use:   "daemon [--listen ADDR] [--grace 30s]",
		Short: "Run unattended: scheduled and API-triggered workflow runs, /mcp, warm sessions for the CLI",
		Long: `Runs mediator unattended for this config. It holds the credentials and the
servers' open sessions, and serves:

  - /mcp: mediator as an MCP server (the serve block; see mediator serve);
  - /v1: the run API (daemon.api_tokens), /healthz, /readyz, /metrics;
  - a Unix socket (daemon.socket) the CLI uses for warm calls;

and fires daemon.schedules. One daemon runs per state directory. It
listens on daemon.listen (default ` + config.DefaultDaemonListen + `); beyond loopback it needs
API tokens and TLS (daemon.tls), or --insecure-listen when a TLS proxy
fronts it.

SIGTERM (or Ctrl-C) stops accepting and gives runs in progress --grace to
finish; the rest are journalled interrupted and resume at the next start.
SIGHUP reloads the config's schedules, tokens and workflow files; a config
with problems is not taken: the old one stays and every problem is
logged. Logs are JSON lines on stderr. The file keyring's passphrase is
read from $MEDIATOR_KEYRING_PASSPHRASE_FILE (systemd's LoadCredential) or
$MEDIATOR_KEYRING_PASSPHRASE. docs/daemon.md has the details.

Exit codes: 0 stopped; 2 refused (config, unsafe listen address, another
daemon running for the state directory); 3 the keyring, a certificate or
the address could not be used; 143 stopped by SIGTERM.`,
		Example: `  mediator daemon
  mediator daemon --listen 127.0.0.1:8080 --grace 1m
  mediator daemon token create ci --workflows 'rain-*'`,
		Args: cmdutil.ExactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Grace < 0 {
				return cmdutil.UsageErrorf("--grace %v: give a duration of 0 or more, e.g. 30s", opts.Grace)
			}
			level := slog.LevelInfo
			if fl := cmd.Flag("log-level"); fl != nil && fl.Changed {
				level, _ = cmdutil.ParseLogLevel(f.LogLevel)
			}
			logger := NewLogger(f.IOStreams.ErrOut, level, opts.Redactor)
			opts.Logger = func() *slog.Logger { return logger }
			// The orchestrator and everything else the Factory builds log
			// as the daemon does.
			f.Logger = opts.Logger
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return daemonRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "listen", "", "serve HTTP at `ADDR` (HOST:PORT); default daemon.listen, else "+config.DefaultDaemonListen)
	fl.BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow a non-loopback address without TLS (a TLS proxy in front); tokens are still required")
	fl.DurationVar(&opts.Grace, "grace", DefaultGrace, "on SIGTERM, how long runs in progress get to finish before they are interrupted")
	cmd.AddCommand(newCmdToken(f))
	return cmd
}

// NewLogger logs JSON lines to w at level, each line masked by the
// redactor red returns at that moment (it learns the keyring's secrets
// once the keyring is open).
func NewLogger(w io.Writer, level slog.Level, red func() *credentials.Redactor) *slog.Logger {
	return slog.New(slog.NewJSONHandler(&redactWriter{w: w, red: red}, &slog.HandlerOptions{Level: level}))
}

// redactWriter masks known secrets in each record the JSON handler
// writes (one Write per record).
type redactWriter struct {
	mu  sync.Mutex
	w   io.Writer
	red func() *credentials.Redactor
}

func (r *redactWriter) Write(p []byte) (int, error) {
	s := string(p)
	if red := r.red(); red != nil {
		s = red.Redact(s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// listenWords turns serve.CheckListen's words for the serve block into
// the daemon block's.
var listenWords = strings.NewReplacer(
	"serve.http.tokens", "daemon.api_tokens",
	"serve.http.tls", "daemon.tls",
	"mediator serve token create NAME", "mediator daemon token create NAME --workflows GLOB",
	"127.0.0.1:7421", config.DefaultDaemonListen)

// daemond is a running daemon: what a reload replaces and a shutdown
// takes down.
type daemond struct {
	opts   *Options
	logger *slog.Logger

	mu      sync.Mutex
	cfg     *config.Config
	sched   *daemon.Scheduler
	runs    *daemon.Runs
	orch    *orchestrator.Orchestrator
	metrics *daemon.Metrics
	// baseURL is where the HTTP face is reached.
	baseURL string
	// handler is the HTTP face, replaced by a reload.
	handler atomic.Pointer[http.Handler]
	mcp     http.Handler
}

func daemonRun(ctx context.Context, opts *Options) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if !cfg.Found {
		return cmdutil.Errorf(cmdutil.ExitUsage, "config %s does not exist: the daemon serves the servers and workflows of a config file; write one (mediator servers add, docs/daemon.md)", cfg.Path)
	}
	logger := opts.Logger()
	d := &daemond{opts: opts, logger: logger, cfg: cfg}

	lock, err := daemon.AcquireLock(cfg.StateDir)
	if err != nil {
		var re *daemon.RunningError
		if errors.As(err, &re) {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
		}
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
	defer lock.Release()

	// The HTTP face's safety is decided before anything connects.
	dc := cfg.Daemon
	addr := opts.Addr
	if addr == "" {
		addr = dc.Listen
	}
	tlsOn := dc.TLS.Cert != ""
	if err := (serve.HTTPOptions{Tokens: dc.Tokens}).CheckListen(addr, tlsOn, opts.InsecureListen); err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%s", listenWords.Replace(err.Error()))
	}
	mcpOpts := cfg.ServeHTTPOptions("")
	serveMCP := mcpOpts.NoAuth || len(mcpOpts.Tokens) > 0
	if serveMCP {
		if err := mcpOpts.CheckListen(addr, tlsOn, opts.InsecureListen); err != nil {
			return cmdutil.Errorf(cmdutil.ExitUsage, "/mcp: %v", err)
		}
	} else {
		logger.Warn("/mcp is not served: serve.http has no tokens; add one (mediator serve token create NAME) or write serve: {http: {auth: none}} on loopback")
	}
	var tlsCfg *tls.Config
	if tlsOn {
		if tlsCfg, err = loadTLS(ctx, opts, cfg); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "listening on %s: %v", addr, err)
	}
	defer ln.Close()
	d.baseURL = endpointBase(ln.Addr(), tlsCfg != nil)

	// The servers, behind /mcp's host.
	var orch *orchestrator.Orchestrator
	sopts := &servecmd.Options{IO: opts.IO, Config: opts.Config, Secrets: opts.Secrets, Orchestrator: opts.Orchestrator,
		Logger: opts.Logger, Redactor: opts.Redactor, Workflows: opts.Workflows}
	srv, err := servecmd.NewServer(ctx, sopts, cfg, serveMCP && !mcpOpts.NoAuth, func() *orchestrator.Orchestrator { return orch })
	if err != nil {
		return err
	}
	if orch, err = opts.Orchestrator(ctx, cfg, srv.Host()); err != nil {
		srv.Close()
		return err
	}
	defer orch.Close()
	defer srv.Close() // before the orchestrator: /mcp's runs still going are journalled as cancelled
	srv.SetOrchestrator(orch)
	d.orch = orch
	if serveMCP {
		mcpOpts.URL = d.baseURL
		mcpOpts.Logger = logger
		if d.mcp, err = serve.HTTPHandler(srv, mcpOpts); err != nil {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
		}
	}

	// Runs, and the runs a shutdown or crash left.
	catalog, err := d.loadCatalog(ctx, cfg)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	pol := flowrun.PolicyOf(opts.Workflows, cfg)
	d.metrics = daemon.NewMetrics()
	d.runs, err = daemon.NewRuns(daemon.RunsOptions{
		Metrics:  d.metrics,
		StateDir: cfg.StateDir, Catalog: catalog,
		Orchestrator:      func() *orchestrator.Orchestrator { return orch },
		PolicyFlows:       pol.Flows,
		TrustAnnotations:  pol.TrustAnnotations,
		Server:            flowrun.ServerCheck(cfg),
		Redactor:          opts.Redactor,
		MaxConcurrentRuns: dc.MaxConcurrentRuns,
		Logger:            logger,
	})
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
	runsDone := false
	defer func() {
		if !runsDone {
			_ = d.runs.Shutdown(context.Background())
		}
	}()
	if ids, err := d.runs.ResumeInterrupted(ctx); err != nil || len(ids) > 0 {
		logger.Info("runs resumed after a restart", "runs", ids, "problems", errString(err))
	}
	if d.sched, err = d.newScheduler(cfg); err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	if err := d.sched.Start(ctx); err != nil {
		logger.Error("scheduled runs missed while down were not all handled", "error", err.Error())
	}

	// The CLI's socket.
	sock := daemon.SocketPath(dc.Socket, cfg.StateDir)
	id, err := daemon.IdentityOf(cfg.Path, cfg.StateDir)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
	lln, err := daemon.ListenLocal(sock, logger)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
	localCtx, stopLocal := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLocal()
	localDone := make(chan error, 1)
	go func() {
		localDone <- daemon.ServeLocal(localCtx, lln, orch, daemon.LocalOptions{Identity: id, Redactor: opts.Redactor(), Logger: logger})
	}()

	// The HTTP face.
	h, err := d.buildHandler(cfg)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	d.handler.Store(&h)
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*d.handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	reload := opts.Reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reload = hup
	}
	// The first SIGTERM must leave the runs their grace, not mediator's
	// usual second.
	cmdutil.Linger(ctx, opts.Grace+cmdutil.InterruptGrace+5*time.Second)
	logger.Info("mediator daemon serving", "url", d.baseURL, "mcp", serveMCP, "socket", sock, "state_dir", cfg.StateDir, "pid", os.Getpid())
	if opts.Listening != nil {
		opts.Listening(d.baseURL)
	}

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reload:
			err := d.reload(ctx)
			if opts.Reloaded != nil {
				opts.Reloaded(err)
			}
		case err := <-served:
			serveErr = cmdutil.Errorf(cmdutil.ExitConnect, "serving HTTP: %v", err)
			break loop
		}
	}

	// Shutdown: stop accepting, give runs their grace, journal the rest.
	logger.Info("mediator daemon stopping", "grace", opts.Grace.String())
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Grace)
	defer cancel()
	d.mu.Lock()
	sched := d.sched
	d.mu.Unlock()
	sched.Stop()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // event streams stay open until closed
	}
	scancel()
	runsDone = true
	if err := d.runs.Shutdown(gctx); err != nil {
		logger.Error("closing the run journal", "error", err.Error())
	}
	stopLocal()
	<-localDone
	if serveErr != nil {
		return serveErr
	}
	return ctx.Err()
}

// buildHandler is the HTTP face under cfg's API tokens: /mcp when
// served, and the run API (/v1, /healthz, /readyz, /metrics) for the
// rest.
func (d *daemond) buildHandler(cfg *config.Config) (http.Handler, error) {
	api, err := daemon.APIHandler(daemon.APIOptions{Runs: d.runs, Tokens: cfg.Daemon.Tokens,
		Orchestrator: func() *orchestrator.Orchestrator { return d.orch },
		Metrics:      d.metrics.Handler(), Logger: d.logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if d.mcp != nil {
		mux.Handle(serve.MCPPath, d.mcp)
		mux.Handle(serve.MetadataPath, d.mcp)
		mux.Handle(serve.MetadataPath+serve.MCPPath, d.mcp)
	}
	mux.Handle("/", api)
	return mux, nil
}

func (d *daemond) loadCatalog(ctx context.Context, cfg *config.Config) (*daemon.Catalog, error) {
	dir := cfg.Daemon.WorkflowsDir
	if dir == "" {
		return nil, nil
	}
	pol := flowrun.PolicyOf(d.opts.Workflows, cfg)
	c, err := daemon.LoadCatalog(ctx, dir, flow.ValidateOptions{PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations,
		RetryAtRunTime: true, Server: flowrun.ServerCheck(cfg)})
	if err != nil {
		return nil, fmt.Errorf("daemon.workflows_dir: %w", err)
	}
	for _, w := range c.Workflows() {
		if !w.Valid() {
			d.logger.Warn("workflow cannot run", "workflow", w.Name, "file", w.Path, "problems", w.Problems)
		}
	}
	return c, nil
}

func (d *daemond) newScheduler(cfg *config.Config) (*daemon.Scheduler, error) {
	return daemon.NewScheduler(daemon.SchedulerOptions{Schedules: cfg.Daemon.Schedules, Submit: d.runs,
		StateDir: cfg.StateDir, Logger: d.logger})
}

// reload reads the config again and takes its schedules, API tokens and
// workflow files. A config with any problem is not taken: the old one
// stays and every problem is logged. What a reload cannot change (the
// address, TLS, the socket, the state directory, the servers) is logged
// as needing a restart.
func (d *daemond) reload(ctx context.Context) error {
	cfg, err := d.opts.Config()
	if err == nil {
		if ps := cfg.Problems(); len(ps) > 0 {
			err = ps
		}
	}
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	var restart []string
	if cfg.StateDir != old.StateDir {
		restart = append(restart, "state_dir")
	}
	if cfg.Daemon.Listen != old.Daemon.Listen {
		restart = append(restart, "daemon.listen")
	}
	if cfg.Daemon.Socket != old.Daemon.Socket {
		restart = append(restart, "daemon.socket")
	}
	if cfg.Daemon.TLS != old.Daemon.TLS {
		restart = append(restart, "daemon.tls")
	}
	if !reflect.DeepEqual(cfg.Servers, old.Servers) || !reflect.DeepEqual(cfg.Serve, old.Serve) {
		restart = append(restart, "servers and serve")
	}
	if cfg.Daemon.MaxConcurrentRuns != old.Daemon.MaxConcurrentRuns {
		restart = append(restart, "daemon.max_concurrent_runs")
	}
	catalog, err := d.loadCatalog(ctx, cfg)
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	sched, err := d.newScheduler(cfg)
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	h, err := d.buildHandler(cfg)
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	// Taken: the workflows, the schedules, the tokens.
	d.runs.SetCatalog(catalog)
	d.mu.Lock()
	oldSched := d.sched
	d.sched = sched
	d.cfg = cfg
	d.mu.Unlock()
	oldSched.Stop()
	if err := sched.Start(ctx); err != nil {
		d.logger.Error("scheduled runs missed during the reload were not all handled", "error", err.Error())
	}
	d.handler.Store(&h)
	if len(restart) > 0 {
		d.logger.Warn("config reloaded, but these changes need a restart of the daemon to apply", "fields", restart)
	}
	d.logger.Info("config reloaded", "schedules", len(cfg.Daemon.Schedules), "api_tokens", len(cfg.Daemon.Tokens))
	return nil
}

// logReloadProblems logs each problem of a config not taken, one record
// each.
func (d *daemond) logReloadProblems(err error) {
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			d.logger.Error("config reload refused; the old config stays", "problem", p.String())
		}
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		d.logger.Error("config reload refused; the old config stays", "problem", line)
	}
}

// loadTLS reads daemon.tls, and client_ca for client certificates.
func loadTLS(ctx context.Context, opts *Options, cfg *config.Config) (*tls.Config, error) {
	t := cfg.Daemon.TLS
	tc, err := servecmd.LoadTLS(ctx, opts.Secrets, cfg, servecmd.TLSFiles{Field: "daemon.tls", Cert: t.Cert, KeyFile: t.KeyFile, KeySecret: t.KeySecret, SecretServer: config.DaemonSecretServer})
	if err != nil {
		return nil, err
	}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitConnect, "daemon.tls.client_ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "daemon.tls.client_ca: %s holds no PEM certificate", t.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// endpointBase is the URL clients reach the listener at.
func endpointBase(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
