package daemon

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketName is the local socket's file name in the state dir when the
// config's daemon.socket names none.
const SocketName = "daemon.sock"

// SocketPath is where the daemon for a config listens for the CLI: the
// config's daemon.socket when set, else <stateDir>/daemon.sock.
func SocketPath(configured, stateDir string) string {
	if configured != "" {
		return configured
	}
	return filepath.Join(stateDir, SocketName)
}

// ListenLocal listens on the Unix socket at path for the CLI of the same
// user. The socket's directory is created 0700 if missing and must be this
// user's alone (owned by them, no group or other permission bits), the
// socket is made 0600, and every connection whose peer (SO_PEERCRED) is
// another user is closed before anything is read from it. A socket file
// left by a daemon that is gone is replaced; one a live process answers
// on is an error, as is any other file at path.
func ListenLocal(path string, logger *slog.Logger) (net.Listener, error) {
	return listenLocal(path, os.Getuid(), logger)
}

// listenLocal is ListenLocal accepting only peers of uid.
func listenLocal(path string, uid int, logger *slog.Logger) (net.Listener, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon socket %s: creating its directory: %w", path, err)
	}
	if err := CheckPrivate(dir, true); err != nil {
		return nil, fmt.Errorf("daemon socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("daemon socket %s: a file that is not a socket is there; remove it or name another path in daemon.socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("daemon socket %s: another process already listens on it (is a daemon for this config running?)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("daemon socket %s: removing the stale socket: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("daemon socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	// The directory is private, so nobody else can connect in between.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon socket %s: %w", path, err)
	}
	return &peerListener{UnixListener: ln, uid: uid, logger: logger}, nil
}

// CheckPrivate reports an error unless path is this user's and open to
// nobody else: owned by the current uid, with no group or other
// permission bits. dir says whether it must be a directory (else a
// socket).
func CheckPrivate(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case dir && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	case !dir && fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s is not a socket", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", path, st.Uid, os.Getuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		want := "0600"
		if dir {
			want = "0700"
		}
		return fmt.Errorf("%s is open to other users (mode %04o); it must be %s", path, perm, want)
	}
	return nil
}

// peerListener accepts only connections from processes of uid.
type peerListener struct {
	*net.UnixListener
	uid    int
	logger *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := PeerUID(c)
		if err == nil && uid == l.uid {
			return c, nil
		}
		if err == nil {
			err = fmt.Errorf("the peer is uid %d, not %d", uid, l.uid)
		}
		l.logger.Warn("refused a connection on the daemon socket", "error", err)
		c.Close()
	}
}
