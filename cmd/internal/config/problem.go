package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config file, located as precisely as
// the file allows.
type Problem struct {
	File      string
	Line, Col int
	// Field is the dotted path, e.g. servers.weather.auth.type; empty for
	// problems of the file as a whole.
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one file. As an error it prints one
// problem per line, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
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
