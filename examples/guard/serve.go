package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is an example server listening on its own port.
type Server struct {
	// URL is the MCP endpoint, e.g. http://127.0.0.1:41234/mcp.
	URL  string
	srv  *http.Server
	done chan error
}

// Start serves h at path on addr ("127.0.0.1:0" picks a free port) in the
// background until Shutdown.
func Start(addr, path string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := &Server{
		URL:  "http://" + ln.Addr().String() + path,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Shutdown stops accepting requests and waits, until ctx ends, for the ones
// in flight; then it closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", s.URL, serr)
	}
	if err != nil {
		return fmt.Errorf("shut down %s: %w", s.URL, err)
	}
	return nil
}

// Serve runs h at path on addr until ctx ends, then shuts down gracefully.
// It is the whole of the example servers' mains, so both behave alike.
func Serve(ctx context.Context, addr, path string, h http.Handler, logger *slog.Logger) error {
	s, err := Start(addr, path, h)
	if err != nil {
		return err
	}
	logger.Info("serving MCP over streamable HTTP", "url", s.URL)
	select {
	case err := <-s.done:
		return fmt.Errorf("serve %s: %w", s.URL, err)
	case <-ctx.Done():
	}
	// ctx is already done, but in-flight requests still deserve a few seconds.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}
