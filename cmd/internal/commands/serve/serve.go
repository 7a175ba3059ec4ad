// Package serve implements `mediator serve`: mediator as one MCP server
// for an agent host (package serve), over stdio for a host's mcpServers
// entry or over streamable HTTP, and `mediator serve token create`.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
)

// Options of `mediator serve`.
type Options struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
	// Orchestrator builds the orchestrator over the named servers (all
	// usable ones when none are named), answering them through host.
	Orchestrator func(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error)
	Logger       func() *slog.Logger
	// Redactor is read at each message to the host: once the keyring is
	// open it knows every secret to mask.
	Redactor func() *credentials.Redactor
	// Workflows are the workflow commands' dependencies, for the flow
	// files offered as tools.
	Workflows flowrun.Env
	// Listening, when set, is told the MCP endpoint's URL once --http
	// listens (tests listen on port 0).
	Listening func(url string)

	Stdio bool
	HTTP  bool
	// Addr is --http's value; "" takes serve.http.listen.
	Addr           string
	InsecureListen bool
}

// shutdownGrace bounds a graceful HTTP shutdown: open event streams are
// closed after it. It is within cmdutil.InterruptGrace, after which
// mediator exits regardless.
const shutdownGrace = cmdutil.InterruptGrace / 2

// NewCmdServe returns `mediator serve` and `mediator serve token`.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO:           f.IOStreams,
		Config:       f.Config,
		Secrets:      f.Secrets,
		Orchestrator: f.HostOrchestrator,
		Logger:       f.Logger,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		Workflows:    flowrun.NewEnv(f),
	}
	cmd := &cobra.Command{
		Use:   "serve (--stdio | --http [ADDR])",
		Short: "Be one MCP server for an agent host, mediating every server behind it",
		Long: `Serves mediator as one MCP server to an agent host (Claude Desktop, Claude
Code, Cursor, VS Code, ...). The host sees the configured servers' tools as
server__tool (serve.tools: gateway), workflow files as tools (workflows), or
both; mediator holds each server's credential in the keyring, checks pins,
audits every call and applies the data-flow policy across the host's whole
session: once server A's output went to the host, a call to server B is
refused unless policy.flows allows A -> B (or the user allows it, where the
host can ask).

--stdio speaks MCP on stdin/stdout, for a host's mcpServers entry:
{"command": "mediator", "args": ["serve", "--stdio"]}. Nothing but the
protocol goes to stdout; logs go to stderr. EOF on stdin ends it.

--http [ADDR] serves streamable HTTP at http://ADDR/mcp (default
serve.http.listen, else 127.0.0.1:7421), with bearer tokens
(serve.http.tokens; see mediator serve token create), an Origin check, and
OAuth protected-resource metadata at /.well-known/oauth-protected-resource.
Beyond loopback it needs tokens and TLS (serve.http.tls), or
--insecure-listen when a TLS proxy fronts it. docs/serve.md has the config
snippets for each host.

Exit codes: 0 the host disconnected or mediator was stopped; 2 refused
(usage, config, unsafe listen address); 3 the keyring, a certificate or the
address could not be used; 130/143 interrupted. See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator serve --stdio
  mediator serve --http
  mediator serve --http 127.0.0.1:8080
  mediator serve token create ci --tools 'weather__*'`,
		Args: cmdutil.MaxArgs(1, "ADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if !opts.HTTP {
					return cmdutil.UsageErrorf("%q: only --http takes an address (--http %s)", args[0], args[0])
				}
				opts.Addr = args[0]
			}
			if opts.Stdio == opts.HTTP {
				return cmdutil.UsageErrorf("give exactly one of --stdio (for a host's mcpServers entry) and --http [ADDR]")
			}
			if opts.Stdio && opts.InsecureListen {
				return cmdutil.UsageErrorf("--insecure-listen applies to --http only")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Stdio, "stdio", false, "speak MCP on stdin/stdout (for a host's mcpServers entry)")
	fl.BoolVar(&opts.HTTP, "http", false, "serve streamable HTTP at http://ADDR/mcp; ADDR (HOST:PORT) may follow, default serve.http.listen, else "+config.DefaultServeListen)
	fl.BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow --http beyond loopback without TLS (a TLS proxy in front); tokens are still required")
	cmd.AddCommand(newCmdToken(f))
	return cmd
}

func serveRun(ctx context.Context, opts *Options) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	sc := cfg.Serve
	for _, name := range sc.Servers {
		if _, err := cmdutil.CheckServer(cfg, name); err != nil {
			return err
		}
	}
	logger := opts.Logger()

	// The HTTP face's safety is decided before anything connects.
	var (
		httpOpts serve.HTTPOptions
		ln       net.Listener
		tlsCfg   *tls.Config
	)
	if opts.HTTP {
		addr := opts.Addr
		if addr == "" {
			addr = sc.HTTP.Listen
		}
		httpOpts = cfg.ServeHTTPOptions("")
		if !httpOpts.NoAuth && len(httpOpts.Tokens) == 0 {
			return cmdutil.Errorf(cmdutil.ExitUsage, "config %s: serve.http has no tokens: add one (mediator serve token create NAME prints it and the lines to add), or write serve: {http: {auth: none}} to serve loopback without a token", cfg.Path)
		}
		if err := httpOpts.CheckListen(addr, sc.HTTP.TLS.Cert != "", opts.InsecureListen); err != nil {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
		}
		if sc.HTTP.TLS.Cert != "" {
			t := sc.HTTP.TLS
			if tlsCfg, err = LoadTLS(ctx, opts.Secrets, cfg, TLSFiles{Field: "serve.http.tls", Cert: t.Cert, KeyFile: t.KeyFile, KeySecret: t.KeySecret, SecretServer: config.ServeSecretServer}); err != nil {
				return err
			}
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return cmdutil.Errorf(cmdutil.ExitConnect, "listening on %s: %v", addr, err)
		}
		defer ln.Close()
		httpOpts.URL = endpointBase(ln.Addr(), tlsCfg != nil)
		httpOpts.Logger = logger
	}

	var orch *orchestrator.Orchestrator
	srv, err := NewServer(ctx, opts, cfg, opts.HTTP && !httpOpts.NoAuth, func() *orchestrator.Orchestrator { return orch })
	if err != nil {
		return err
	}
	// A workflow may call any server; the gateway offers only its own.
	var servers []string
	if !sc.Workflows() {
		servers = sc.Servers
	}
	orch, err = opts.Orchestrator(ctx, cfg, srv.Host(), servers...)
	if err != nil {
		return err
	}
	defer orch.Close()
	defer srv.Close() // before the orchestrator: runs still going are journalled as cancelled
	srv.SetOrchestrator(orch)

	if opts.Stdio {
		return serveStdio(ctx, opts, srv)
	}
	return serveHTTP(ctx, opts, srv, httpOpts, ln, tlsCfg)
}

// NewServer builds the serve.Server the serve block describes, without
// its orchestrator (orch is asked at each workflow run; call
// SetOrchestrator once it is built): the gateway, and the workflow files
// of serve.workflows_dir as tools (a file that does not validate is left
// out with a warning). tokens authorizes each call by the bearer token's
// scope. mediator serve and mediator daemon (at /mcp) build it so.
func NewServer(ctx context.Context, opts *Options, cfg *config.Config, tokens bool, orch func() *orchestrator.Orchestrator) (*serve.Server, error) {
	sc := cfg.Serve
	logger := opts.Logger()
	so := cfg.ServeOptions()
	so.Logger = logger
	so.Redactor = opts.Redactor
	if sc.Workflows() {
		wo := flowrun.ServeWorkflows(opts.Workflows, cfg, sc.WorkflowsDir, orch)
		wo.Prefix = sc.Gateway()
		wo.Logger = logger
		tools, err := serve.LoadWorkflowTools(ctx, wo)
		if err != nil {
			if len(tools) == 0 {
				return nil, cmdutil.Errorf(cmdutil.ExitUsage, "serve.workflows_dir: %v", err)
			}
			// The files that validate are offered; the others are named.
			logger.Warn("some workflow files are not offered", "error", err.Error())
		}
		so.Workflows = tools
	}
	if tokens {
		var names []string
		for _, wt := range so.Workflows {
			names = append(names, wt.Tool.Name)
		}
		so.Authorize = serve.TokenAuthorizer(names)
	}
	srv, err := serve.New(so)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "config %s: %v", cfg.Path, err)
	}
	return srv, nil
}

// serveStdio speaks MCP on the streams until the host closes stdin (a
// clean end) or ctx ends.
func serveStdio(ctx context.Context, opts *Options, srv *serve.Server) error {
	out := opts.IO.RawOut
	if out == nil {
		out = opts.IO.Out
	}
	t := serve.TasksTransport(&mcp.IOTransport{Reader: io.NopCloser(opts.IO.In), Writer: nopWriteCloser{out}})
	err := srv.MCPServer().Run(ctx, t)
	if err == nil || errors.Is(err, io.EOF) || ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	return fmt.Errorf("serving on stdio: %w", err)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// serveHTTP serves the HTTP face on ln until ctx ends, then shuts down:
// requests in flight get shutdownGrace to finish.
func serveHTTP(ctx context.Context, opts *Options, srv *serve.Server, ho serve.HTTPOptions, ln net.Listener, tlsCfg *tls.Config) error {
	h, err := serve.HTTPHandler(srv, ho)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(opts.Logger().Handler(), slog.LevelWarn)}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	endpoint := ho.URL + serve.MCPPath
	fmt.Fprintf(opts.IO.ErrOut, "mediator serve: MCP at %s (Ctrl-C stops)\n", endpoint)
	if opts.Listening != nil {
		opts.Listening(endpoint)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return cmdutil.Errorf(cmdutil.ExitConnect, "serving HTTP: %v", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // event streams stay open until closed
	}
	return ctx.Err()
}

// endpointBase is the URL hosts reach the listener at; a listener on
// every address is named by this machine's host name.
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

// TLSFiles names a certificate and its key: a file, or a keyring item
// under SecretServer. Field is the config block's path, for errors.
type TLSFiles struct {
	Field, Cert, KeyFile, KeySecret, SecretServer string
}

// LoadTLS reads a certificate file and its key from the keyring
// (KeySecret) or a file, for an HTTP face (serve.http.tls, daemon.tls).
func LoadTLS(ctx context.Context, secrets func(context.Context, *config.Config) (*credentials.Store, error), cfg *config.Config, t TLSFiles) (*tls.Config, error) {
	certPEM, err := os.ReadFile(t.Cert)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%s.cert: %v", t.Field, err)
	}
	var keyPEM []byte
	if t.KeyFile != "" {
		if keyPEM, err = os.ReadFile(t.KeyFile); err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%s.key_file: %v", t.Field, err)
		}
	} else {
		store, err := secrets(ctx, cfg)
		if err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%s.key_secret: %v", t.Field, err)
		}
		key, err := store.Get(t.SecretServer, t.KeySecret)
		if errors.Is(err, credentials.ErrNotFound) {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "%s.key_secret: no keyring item %s/%s; store the PEM key with: mediator secret set %s %s < KEY.pem", t.Field, t.SecretServer, t.KeySecret, t.SecretServer, t.KeySecret)
		}
		if err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitConnect, "%s.key_secret: %v", t.Field, err)
		}
		keyPEM = []byte(key.Reveal())
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's errors never quote the key.
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "%s: the certificate %s and its key do not make a pair: %v", t.Field, t.Cert, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
