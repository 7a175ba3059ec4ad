package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/keyring"
	"github.com/godbus/dbus"
)

// kindError is an error of a kind such as ErrLocked: errors.Is finds the
// kind, the message is the explanation alone.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindErrorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// secretServiceTimeout bounds every D-Bus call and the connection to the
// bus. gnome-keyring answers in milliseconds; a Secret Service that does
// not answer at all must not hang mediator.
const secretServiceTimeout = 10 * time.Second

// Names of the freedesktop Secret Service API
// (https://specifications.freedesktop.org/secret-service-spec/latest/).
const (
	ssName          = "org.freedesktop.secrets"
	ssPath          = dbus.ObjectPath("/org/freedesktop/secrets")
	ssService       = "org.freedesktop.Secret.Service"
	ssCollection    = "org.freedesktop.Secret.Collection"
	ssItem          = "org.freedesktop.Secret.Item"
	ssPrompt        = "org.freedesktop.Secret.Prompt"
	ssErrIsLocked   = "org.freedesktop.Secret.Error.IsLocked"
	ssErrNoSession  = "org.freedesktop.Secret.Error.NoSession"
	ssErrNoSuchObj  = "org.freedesktop.Secret.Error.NoSuchObject"
	ssProfileAttr   = "profile"
	ssContentType   = "application/json"
	dbusProperties  = "org.freedesktop.DBus.Properties"
	noObject        = dbus.ObjectPath("/")
	sessionBusEnv   = "DBUS_SESSION_BUS_ADDRESS"
	runtimeDirEnv   = "XDG_RUNTIME_DIR"
	collectionsPath = "/org/freedesktop/secrets/collection/"
)

// ssSecret is the Secret struct of the API, signature (oayays).
type ssSecret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// secretService is a keyring.Keyring on a Secret Service collection
// (gnome-keyring, KeePassXC, recent KWallet), spoken to over its own D-Bus
// connection to the bus the caller names. Every call is bounded by
// timeout; it never shows a prompt: a locked collection is an error
// wrapping ErrLocked that says how to unlock it, since a prompt may wait
// forever for a dialog no one sees.
//
// Items are stored as github.com/99designs/keyring v1.2.2 stores them (an
// item labelled with the key, the attribute profile=key, the keyring.Item
// as JSON in the secret), so items written by earlier mediator versions
// stay readable and the other way round. Set leaves exactly one item per
// key.
type secretService struct {
	conn       *dbus.Conn
	address    string
	name       string // the configured collection
	collection dbus.ObjectPath
	session    dbus.ObjectPath
	timeout    time.Duration
}

// sessionBusAddress finds the D-Bus session bus the way libdbus does: the
// address in DBUS_SESSION_BUS_ADDRESS, else the socket $XDG_RUNTIME_DIR/bus.
func sessionBusAddress(env func(string) (string, bool)) (string, error) {
	if a, _ := env(sessionBusEnv); a != "" && a != "autolaunch:" {
		return a, nil
	}
	if dir, _ := env(runtimeDirEnv); dir != "" {
		sock := filepath.Join(dir, "bus")
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + sock, nil
		}
	}
	return "", errors.New("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist (a headless or SSH session?)")
}

// openSecretService connects to the bus at address, opens a session with
// the Secret Service there and finds the collection named (an alias such
// as "default", or a collection's id such as "login"). It does not create
// a missing collection: creating one asks for its password in a prompt.
func openSecretService(ctx context.Context, address, name string, timeout time.Duration) (*secretService, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dialBus(ctx, address)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, kindErrorf(ErrUnreachable, "the D-Bus session bus at %s did not answer within %s", busName(address), timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the D-Bus session bus at %s: %w", busName(address), err)
	}
	k := &secretService{conn: conn, address: address, name: name, timeout: timeout}
	if err := k.open(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return k, nil
}

// dialBus connects and authenticates to a bus; ctx bounds it all, as a
// socket that accepts and never answers would block Auth forever.
func dialBus(ctx context.Context, address string) (*dbus.Conn, error) {
	var (
		mu        sync.Mutex
		conn      *dbus.Conn
		abandoned bool
		done      = make(chan error, 1)
	)
	go func() {
		c, err := dbus.Dial(address)
		if err == nil {
			mu.Lock()
			conn = c
			if abandoned {
				c.Close()
			}
			mu.Unlock()
			if err = c.Auth(nil); err == nil {
				err = c.Hello()
			}
			if err != nil {
				c.Close()
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		return conn, nil
	case <-ctx.Done():
		mu.Lock()
		abandoned = true
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		return nil, fmt.Errorf("no answer: %w", ctx.Err())
	}
}

func (k *secretService) open(ctx context.Context) error {
	var output dbus.Variant
	if err := k.call(ctx, ssPath, ssService+".OpenSession", []any{"plain", dbus.MakeVariant("")}, &output, &k.session); err != nil {
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return fmt.Errorf("no Secret Service answers on the D-Bus session bus at %s (is gnome-keyring-daemon, KeePassXC or another provider of %s running?)", busName(k.address), ssName)
		}
		return k.err(err)
	}
	var alias dbus.ObjectPath
	if err := k.call(ctx, ssPath, ssService+".ReadAlias", []any{k.name}, &alias); err != nil {
		return k.err(err)
	}
	if alias != noObject {
		k.collection = alias
		return nil
	}
	var v dbus.Variant
	if err := k.call(ctx, ssPath, dbusProperties+".Get", []any{ssService, "Collections"}, &v); err != nil {
		return k.err(err)
	}
	paths, _ := v.Value().([]dbus.ObjectPath)
	var ids []string
	for _, p := range paths {
		id := collectionID(p)
		if id == k.name {
			k.collection = p
			return nil
		}
		ids = append(ids, id)
	}
	def := ""
	if err := k.call(ctx, ssPath, ssService+".ReadAlias", []any{"default"}, &alias); err == nil && alias != noObject {
		def = fmt.Sprintf(" (the default alias names %q)", collectionID(alias))
	}
	return fmt.Errorf("the Secret Service has no collection %q; it has %s%s. mediator does not create one, since that asks for a password in a dialog: "+
		"log in to a desktop session (it creates and unlocks \"login\"), or on a machine without one start the daemon with `gnome-keyring-daemon --unlock`, which reads the login password from stdin",
		k.name, quoteList(ids), def)
}

// collectionID is a collection's id: the last element of its object path,
// which gnome-keyring writes with "_XX" escapes for bytes other than
// letters and digits.
func collectionID(p dbus.ObjectPath) string {
	id := strings.TrimPrefix(string(p), collectionsPath)
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		if id[i] == '_' && i+2 < len(id) {
			if c, err := strconv.ParseUint(id[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(id[i])
	}
	return b.String()
}

func quoteList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

// call makes one method call bounded by the timeout and stores the reply.
func (k *secretService) call(ctx context.Context, path dbus.ObjectPath, method string, args []any, out ...any) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	return k.conn.Object(ssName, path).CallWithContext(ctx, method, 0, args...).Store(out...)
}

// do runs f with a fresh timeout context, after making sure the collection
// is unlocked: a locked collection may answer searches with nothing, which
// would read as "no such secret".
func (k *secretService) do(f func(ctx context.Context) error) error {
	ctx := context.Background()
	var v dbus.Variant
	if err := k.call(ctx, k.collection, dbusProperties+".Get", []any{ssCollection, "Locked"}, &v); err != nil {
		return k.err(err)
	}
	if locked, _ := v.Value().(bool); locked {
		if err := k.unlockWithoutPrompt(ctx); err != nil {
			return err
		}
	}
	if err := f(ctx); err != nil {
		return k.err(err)
	}
	return nil
}

// unlockWithoutPrompt asks the service to unlock the collection, which it
// may do on its own (KeePassXC with its database open). When it wants a
// prompt, the prompt is dismissed and the answer is ErrLocked.
func (k *secretService) unlockWithoutPrompt(ctx context.Context) error {
	var (
		unlocked []dbus.ObjectPath
		prompt   dbus.ObjectPath
	)
	if err := k.call(ctx, ssPath, ssService+".Unlock", []any{[]dbus.ObjectPath{k.collection}}, &unlocked, &prompt); err != nil {
		return k.err(err)
	}
	if slices.Contains(unlocked, k.collection) {
		return nil
	}
	return k.refusePrompt(ctx, prompt)
}

// refusePrompt dismisses a prompt the service returned and reports the
// collection as locked.
func (k *secretService) refusePrompt(ctx context.Context, prompt dbus.ObjectPath) error {
	if isPrompt(prompt) {
		_ = k.call(ctx, prompt, ssPrompt+".Dismiss", nil)
	}
	return k.lockedErr()
}

func (k *secretService) lockedErr() error {
	return kindErrorf(ErrLocked, "the Secret Service collection %q is locked, and mediator does not open the unlock dialog (it would wait for an answer no one may see). "+
		"Unlock it on the desktop (GNOME: Passwords and Keys / Seahorse; KeePassXC: open the database) and run the command again; "+
		"on a machine without a desktop, start gnome-keyring unlocked: `gnome-keyring-daemon --unlock` reads the login password from stdin. "+
		"To keep secrets in a passphrase-encrypted file instead, set credentials.backend: file", collectionID(k.collection))
}

// err translates D-Bus failures into errors that say what happened.
func (k *secretService) err(err error) error {
	if err == nil || errors.Is(err, ErrLocked) || errors.Is(err, ErrUnreachable) || errors.Is(err, keyring.ErrKeyNotFound) {
		return err
	}
	var de dbus.Error
	if errors.As(err, &de) {
		switch de.Name {
		case ssErrIsLocked:
			return k.lockedErr()
		case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
			return kindErrorf(ErrUnreachable, "no Secret Service is on the D-Bus session bus at %s any more (did gnome-keyring-daemon or the desktop session exit?)", busName(k.address))
		case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout":
			return kindErrorf(ErrUnreachable, "the Secret Service did not answer (%s)", de.Name)
		case ssErrNoSession, ssErrNoSuchObj, "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod":
			return kindErrorf(ErrUnreachable, "the Secret Service no longer knows mediator's session or collection %q (was it restarted?): %s", k.name, de.Name)
		}
		return fmt.Errorf("the Secret Service answered %s: %w", de.Name, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return kindErrorf(ErrUnreachable, "the Secret Service did not answer within %s", k.timeout)
	}
	// godbus reports a bus that went away as the socket's error, or as
	// ErrClosed, whose text ("closed by user") would mislead.
	var opErr *net.OpError
	switch {
	case errors.Is(err, dbus.ErrClosed):
		return kindErrorf(ErrUnreachable, "the connection to the D-Bus session bus at %s is closed (did the bus or the desktop session end?)", busName(k.address))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &opErr):
		return kindErrorf(ErrUnreachable, "the connection to the D-Bus session bus at %s is closed (did the bus or the desktop session end?): %v", busName(k.address), err)
	}
	return err
}

// busName is a bus address without its guid, for messages.
func busName(address string) string {
	if i := strings.Index(address, ",guid="); i >= 0 {
		return address[:i]
	}
	return address
}

// search returns the items whose profile attribute is key.
func (k *secretService) search(ctx context.Context, key string) ([]dbus.ObjectPath, error) {
	var items []dbus.ObjectPath
	err := k.call(ctx, k.collection, ssCollection+".SearchItems", []any{map[string]string{ssProfileAttr: key}}, &items)
	slices.Sort(items)
	return items, err
}

// deleteItem deletes one item; a prompt means the collection is locked.
func (k *secretService) deleteItem(ctx context.Context, item dbus.ObjectPath) error {
	var prompt dbus.ObjectPath
	if err := k.call(ctx, item, ssItem+".Delete", nil, &prompt); err != nil {
		return err
	}
	if isPrompt(prompt) {
		return k.refusePrompt(ctx, prompt)
	}
	return nil
}

// isPrompt tells a prompt the service returned from "/", no prompt.
func isPrompt(p dbus.ObjectPath) bool { return p != "" && p != noObject }

func (k *secretService) Get(key string) (keyring.Item, error) {
	var item keyring.Item
	err := k.do(func(ctx context.Context) error {
		items, err := k.search(ctx, key)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return keyring.ErrKeyNotFound
		}
		var s ssSecret
		if err := k.call(ctx, items[0], ssItem+".GetSecret", []any{k.session}, &s); err != nil {
			return err
		}
		if err := json.Unmarshal(s.Value, &item); err != nil {
			return fmt.Errorf("the Secret Service item %q is not the JSON mediator writes", key)
		}
		return nil
	})
	return item, err
}

func (k *secretService) GetMetadata(string) (keyring.Metadata, error) {
	return keyring.Metadata{}, keyring.ErrMetadataNotSupported
}

func (k *secretService) Set(item keyring.Item) error {
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	return k.do(func(ctx context.Context) error {
		props := map[string]dbus.Variant{
			ssItem + ".Label":      dbus.MakeVariant(item.Key),
			ssItem + ".Attributes": dbus.MakeVariant(map[string]string{ssProfileAttr: item.Key}),
		}
		secret := ssSecret{Session: k.session, Parameters: []byte{}, Value: data, ContentType: ssContentType}
		var created, prompt dbus.ObjectPath
		if err := k.call(ctx, k.collection, ssCollection+".CreateItem", []any{props, secret, true}, &created, &prompt); err != nil {
			return err
		}
		if isPrompt(prompt) {
			return k.refusePrompt(ctx, prompt)
		}
		// Replacing matches on attributes in a way each service defines;
		// whatever it did, one item per key remains.
		items, err := k.search(ctx, item.Key)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it != created {
				if err := k.deleteItem(ctx, it); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (k *secretService) Remove(key string) error {
	return k.do(func(ctx context.Context) error {
		items, err := k.search(ctx, key)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return keyring.ErrKeyNotFound
		}
		for _, it := range items {
			if err := k.deleteItem(ctx, it); err != nil {
				return err
			}
		}
		return nil
	})
}

// Keys lists the profile attribute of every item in the collection (other
// programs' items too; the Store picks its own).
func (k *secretService) Keys() ([]string, error) {
	var keys []string
	err := k.do(func(ctx context.Context) error {
		var v dbus.Variant
		if err := k.call(ctx, k.collection, dbusProperties+".Get", []any{ssCollection, "Items"}, &v); err != nil {
			return err
		}
		items, _ := v.Value().([]dbus.ObjectPath)
		for _, it := range items {
			if err := k.call(ctx, it, dbusProperties+".Get", []any{ssItem, "Attributes"}, &v); err != nil {
				var de dbus.Error
				if errors.As(err, &de) && (de.Name == ssErrNoSuchObj || de.Name == "org.freedesktop.DBus.Error.UnknownObject") {
					continue // deleted since the listing
				}
				return err
			}
			if attrs, ok := v.Value().(map[string]string); ok && attrs[ssProfileAttr] != "" {
				keys = append(keys, attrs[ssProfileAttr])
			}
		}
		return nil
	})
	return keys, err
}

// close ends the session and the connection.
func (k *secretService) close() {
	if k.session != "" && k.session != noObject {
		_ = k.call(context.Background(), k.session, "org.freedesktop.Secret.Session.Close", nil)
	}
	k.conn.Close()
}
