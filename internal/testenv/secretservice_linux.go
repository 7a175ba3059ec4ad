package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus"
)

// SecretService is gnome-keyring-daemon's Secret Service on a D-Bus
// session bus of its own, both started for one test in a temp dir and
// stopped when it ends. Nothing of the user's session is used or touched:
// the bus activates no services, and the code under test reaches this
// Secret Service only through Env, which the test hands it explicitly.
type SecretService struct {
	// Env leads to this Secret Service: DBUS_SESSION_BUS_ADDRESS and
	// XDG_RUNTIME_DIR.
	Env map[string]string
	// Password unlocks the "login" collection.
	Password string

	home   string // the daemons' HOME, where gnome-keyring keeps its files
	bus    *child
	daemon *child
	conn   *dbus.Conn
}

const (
	secretsName = "org.freedesktop.secrets"
	secretsPath = dbus.ObjectPath("/org/freedesktop/secrets")
	// LoginCollection is the object path of the collection
	// `gnome-keyring-daemon --unlock` creates.
	LoginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	// startTimeout bounds starting the bus and the daemon, not a test.
	startTimeout = 30 * time.Second
)

// busConfig is a session bus that anyone of this user may use and that
// starts nothing on demand (no <servicedir>): no prompter, no second
// keyring daemon.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartSecretService starts a private session bus (dbus-daemon, the bus
// dbus-run-session runs) and `gnome-keyring-daemon --unlock
// --components=secrets` on it, and waits until the Secret Service
// answers. A missing dbus-daemon or gnome-keyring-daemon fails the test
// when CI=true and skips it elsewhere.
func StartSecretService(t testing.TB) *SecretService {
	t.Helper()
	for _, tool := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			CannotRun(t, "required test tool missing", "install the Debian packages dbus and gnome-keyring; .ci/run does", "%s is not on PATH", tool)
		}
	}
	// A short path: socket paths must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &SecretService{Password: "login-password-for-tests", home: filepath.Join(dir, "home")}
	for _, d := range []string{"run", "home"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, filepath.Join(dir, "run")), 0o600); err != nil {
		t.Fatal(err)
	}

	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	bus.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.home}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bus.Stdout = w
	var busErr syncBuffer
	s.bus, err = startChild(t, bus, &busErr)
	w.Close()
	if err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	line, err := readLine(r, startTimeout)
	if err != nil {
		t.Fatalf("dbus-daemon did not print its address: %v\n%s", err, busErr.String())
	}
	s.Env = map[string]string{
		"DBUS_SESSION_BUS_ADDRESS": line,
		"XDG_RUNTIME_DIR":          filepath.Join(dir, "run"),
	}
	s.conn = s.dial(t)
	t.Cleanup(func() { s.conn.Close() })
	s.StartDaemon(t)
	return s
}

// Lookup reads Env, as an os.LookupEnv for the code under test.
func (s *SecretService) Lookup(key string) (string, bool) {
	v, ok := s.Env[key]
	return v, ok
}

// StartDaemon starts gnome-keyring-daemon with --unlock, which creates the
// "login" collection with Password, or unlocks the one it finds, and
// waits for it to take its name on the bus.
func (s *SecretService) StartDaemon(t testing.TB) {
	t.Helper()
	d := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	d.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.home}
	for k, v := range s.Env {
		d.Env = append(d.Env, k+"="+v)
	}
	d.Stdin = strings.NewReader(s.Password)
	var stderr syncBuffer
	daemon, err := startChild(t, d, &stderr)
	if err != nil {
		t.Fatalf("starting gnome-keyring-daemon: %v", err)
	}
	s.daemon = daemon
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for !s.ownsName(t, ctx) {
		select {
		case <-daemon.exited:
			t.Fatalf("gnome-keyring-daemon exited before it served %s: %v\n%s", secretsName, daemon.err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("gnome-keyring-daemon did not serve %s within %s\n%s", secretsName, startTimeout, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *SecretService) ownsName(t testing.TB, ctx context.Context) bool {
	t.Helper()
	var owned bool
	if err := s.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&owned); err != nil {
		t.Fatalf("asking the bus for %s: %v", secretsName, err)
	}
	return owned
}

// StopDaemon kills gnome-keyring-daemon; the bus stays. The login
// collection stays on disk, locked until a daemon started with --unlock
// opens it.
func (s *SecretService) StopDaemon(t testing.TB) {
	t.Helper()
	s.daemon.kill()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for s.ownsName(t, ctx) {
		time.Sleep(10 * time.Millisecond)
	}
}

// FreezeDaemon stops gnome-keyring-daemon with SIGSTOP, so calls to it
// get no answer, until the test ends.
func (s *SecretService) FreezeDaemon(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(s.daemon.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// StopBus kills the bus: every connection to it closes.
func (s *SecretService) StopBus(t testing.TB) {
	t.Helper()
	s.bus.kill()
}

// Lock locks the login collection, as a screen lock or `Lock` in Seahorse
// would.
func (s *SecretService) Lock(t testing.TB) {
	t.Helper()
	var (
		locked []dbus.ObjectPath
		prompt dbus.ObjectPath
	)
	err := s.call("org.freedesktop.Secret.Service.Lock", secretsPath, []any{[]dbus.ObjectPath{LoginCollection}}, &locked, &prompt)
	if err != nil || len(locked) != 1 || prompt != "/" {
		t.Fatalf("locking the login collection: %v (locked %v, prompt %s)", err, locked, prompt)
	}
}

// SilentPrompter takes the names of gnome-keyring's prompter (which asks
// for a password in a dialog) and never answers, as a dialog no one sees
// would; a client that runs a prompt waits for it. It returns how many
// calls reached the prompter so far.
func (s *SecretService) SilentPrompter(t testing.TB) func() int {
	t.Helper()
	conn := s.dial(t)
	for _, name := range []string{"org.gnome.keyring.SystemPrompter", "org.gnome.keyring.PrivatePrompter"} {
		if r, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("taking the name %s: %v (%v)", name, err, r)
		}
	}
	var (
		mu    sync.Mutex
		calls int
	)
	msgs := make(chan *dbus.Message, 64)
	conn.Eavesdrop(msgs) // every message comes here; none is answered
	t.Cleanup(func() {
		// godbus closes the channel at each Close, and closes a connection
		// again when its socket does: take the channel back first.
		conn.Eavesdrop(nil)
		conn.Close()
		close(msgs)
	})
	go func() {
		for m := range msgs {
			if m.Type == dbus.TypeMethodCall {
				mu.Lock()
				calls++
				mu.Unlock()
			}
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
}

// Items returns the object paths of the items in the login collection
// whose attributes include attrs.
func (s *SecretService) Items(t testing.TB, attrs map[string]string) []dbus.ObjectPath {
	t.Helper()
	var items []dbus.ObjectPath
	if err := s.call("org.freedesktop.Secret.Collection.SearchItems", LoginCollection, []any{attrs}, &items); err != nil {
		t.Fatalf("searching the login collection: %v", err)
	}
	return items
}

// CreateItem stores an item in the login collection as the test says,
// e.g. in the format of an earlier program version.
func (s *SecretService) CreateItem(t testing.TB, label string, attrs map[string]string, value []byte, contentType string) {
	t.Helper()
	var (
		out     dbus.Variant
		session dbus.ObjectPath
	)
	if err := s.call("org.freedesktop.Secret.Service.OpenSession", secretsPath, []any{"plain", dbus.MakeVariant("")}, &out, &session); err != nil {
		t.Fatal(err)
	}
	props := map[string]dbus.Variant{
		"org.freedesktop.Secret.Item.Label":      dbus.MakeVariant(label),
		"org.freedesktop.Secret.Item.Attributes": dbus.MakeVariant(attrs),
	}
	secret := struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, value, contentType}
	var item, prompt dbus.ObjectPath
	if err := s.call("org.freedesktop.Secret.Collection.CreateItem", LoginCollection, []any{props, secret, false}, &item, &prompt); err != nil || prompt != "/" {
		t.Fatalf("creating an item: %v (prompt %s)", err, prompt)
	}
}

func (s *SecretService) call(method string, path dbus.ObjectPath, args []any, out ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return s.conn.Object(secretsName, path).CallWithContext(ctx, method, 0, args...).Store(out...)
}

func (s *SecretService) dial(t testing.TB) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Dial(s.Env["DBUS_SESSION_BUS_ADDRESS"])
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
	}
	if err != nil {
		t.Fatalf("connecting to the test's bus: %v", err)
	}
	return conn
}

// child is a daemon the test started.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startChild starts cmd in its own process group, killed when the test
// binary dies (so no daemon outlives a crashed test) and at the end of
// the test.
func startChild(t testing.TB, cmd *exec.Cmd, stderr *syncBuffer) (*child, error) {
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.kill)
	return c, nil
}

// syncBuffer is a child's stderr, read while the child may still write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// kill kills the child's process group (a stopped one too) and waits for
// it to exit.
func (c *child) kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGCONT)
	<-c.exited
}

func readLine(r interface{ Read([]byte) (int, error) }, timeout time.Duration) (string, error) {
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- res{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", r.err
		}
		return r.line, nil
	case <-time.After(timeout):
		return "", errors.New("timed out")
	}
}
