package connectors

import (
	"context"
	"errors"
	"sync"

	"github.com/mediatorhq/mediator/internal/reaper"
)

// Shutdowns follows the stdio servers that connectors closed until they
// have exited. A connector given one (Options.Shutdowns) returns from
// Close as soon as its server's stdin is closed, and the server shuts down
// meanwhile, the way the MCP spec asks (see reaper.Stop); without one,
// Close waits for the exit. The zero value is ready to use, and one
// Shutdowns may serve many connectors.
type Shutdowns struct {
	mu    sync.Mutex
	procs map[*stdioProcess]struct{}
}

func (s *Shutdowns) add(p *stdioProcess) {
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[*stdioProcess]struct{}{}
	}
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-p.done
		s.remove(p)
	}()
}

func (s *Shutdowns) remove(p *stdioProcess) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}

func (s *Shutdowns) list() []*stdioProcess {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*stdioProcess, 0, len(s.procs))
	for p := range s.procs {
		out = append(out, p)
	}
	return out
}

// Wait returns once every server that s follows has exited, or when ctx
// ends. It is bounded by the shutdown itself: a server that ignores its
// closed stdin gets SIGTERM after the grace, and SIGKILL after as long
// again.
func (s *Shutdowns) Wait(ctx context.Context) error {
	for _, p := range s.list() {
		select {
		case <-p.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// Detach hands every server still shutting down to a watchdog process,
// which outlives this one, drains the servers' output and sends SIGTERM
// and SIGKILL as the shutdown requires; it returns without waiting for
// any server. The watchdog is this program's own executable started
// again: call Detach only from a program whose main starts with
// reaper.Invoked's check (as mediator's does). The servers' stderr stops
// reaching the connectors' Stderr.
//
// When no watchdog can start (errors.ErrUnsupported outside Linux) Detach
// returns the error and s keeps following the servers: Wait then waits
// for them.
func (s *Shutdowns) Detach() error {
	var (
		hand    []reaper.Process
		handed  []*stdioProcess
		nopidfd bool
	)
	for _, p := range s.list() {
		if p.pidfd == nil {
			nopidfd = true
			continue
		}
		if rp, ok := p.handOff(); ok {
			hand = append(hand, rp)
			handed = append(handed, p)
		}
	}
	if len(hand) > 0 {
		if err := reaper.Handoff(hand); err != nil {
			for _, p := range handed {
				p.takeBack()
			}
			return err
		}
	}
	for _, p := range handed {
		p.commit()
		s.remove(p)
	}
	if nopidfd {
		return errors.ErrUnsupported
	}
	return nil
}
