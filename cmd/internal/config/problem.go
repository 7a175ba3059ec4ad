package config

import (
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/internal/problem"
)

// Problem is one thing wrong with a config file, located as precisely as
// the file allows. Its Field is the dotted path, e.g.
// servers.weather.auth.type; empty for problems of the file as a whole.
type Problem = problem.Problem

// Problems is every problem found in one config file, in file order. As an
// error it prints one problem per line. It is a type of its own, not
// problem.Problems, so that errors.As tells a config that does not load
// from a flow that does not parse.
type Problems []Problem

func (ps Problems) Error() string { return problem.Problems(ps).Error() }

func (ps Problems) sorted() Problems {
	problem.Sort(ps)
	return ps
}

// assignProblems gives each configured server the problems found in its
// entry, and reports whether those were all: a problem anywhere else (the
// file's syntax, credentials, state, audit, policy, a server whose name
// is not valid) leaves nothing usable, and the servers are then left as
// they were.
func (c *Config) assignProblems(ps Problems) bool {
	owner := make([]*Server, len(ps))
	for i, p := range ps {
		owner[i] = c.serverOf(p.Field)
		if owner[i] == nil {
			return false
		}
	}
	for i, p := range ps {
		owner[i].Problems = append(owner[i].Problems, p)
	}
	for i := range c.Servers {
		c.Servers[i].Problems.sorted()
	}
	return true
}

// serverOf returns the configured server whose entry holds field.
func (c *Config) serverOf(field string) *Server {
	rest, ok := strings.CutPrefix(field, "servers.")
	if !ok {
		return nil
	}
	// Server names hold neither '.' nor '['.
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	s, _ := c.Server(rest)
	return s
}

// Problems lists the problems of every server's entry, in file order.
// (Problems of the file as a whole are Load's error.)
func (c *Config) Problems() Problems {
	var ps Problems
	for _, s := range c.Servers {
		ps = append(ps, s.Problems...)
	}
	return ps.sorted()
}

// ServerError is the error of a server whose entry has problems: it is
// never connected to, and whatever needs it fails with this.
type ServerError struct {
	Server   string
	Problems Problems
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("server %q cannot be used until its entry in the config is fixed:\n%s", e.Server, e.Problems.Error())
}

func (e *ServerError) Unwrap() error { return e.Problems }
