package testenv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// KeyctlKeyring guards the named keyring that the keyctl backend keeps in
// the user's kernel keyring (it outlives the test process), for a test
// that stores items there: when the test ends, every key it added is
// unlinked, and so is the named keyring if the test created it; the test
// fails if anything is left. A keyring of that name that already holds
// keys may be a real user's, so the test does not run (it fails when
// CI=true, where nothing should be there).
func KeyctlKeyring(t testing.TB, name string) {
	t.Helper()
	guardKeyctl(t, name, inProcess{})
}

// KeyctlKeyringAs is KeyctlKeyring for code that runs as user, whose
// kernel keyring only that user reaches: exe, a copy of the test binary
// that user may run, does the work, so the test's TestMain must start with
// RunKeyctlHelper.
func KeyctlKeyringAs(t testing.TB, name, exe string, user *syscall.Credential) {
	t.Helper()
	guardKeyctl(t, name, asUser{exe: exe, user: user})
}

// keyctlOps reads and unlinks keys in the user keyring of someone.
type keyctlOps interface {
	// keys finds the named keyring linked in the user keyring and the ids
	// of the keys it holds; ring is 0 when there is none.
	keys(name string) (ring int32, keys []int32, err error)
	// unlink unlinks key from ring (0: the user keyring).
	unlink(key, ring int32) error
	// whose says whose keyring it is, for messages.
	whose() string
}

func guardKeyctl(t testing.TB, name string, ops keyctlOps) {
	t.Helper()
	existed, before, err := ops.keys(name)
	if err != nil {
		t.Fatalf("reading the keyctl keyring %q: %v", name, err)
	}
	if len(before) > 0 {
		CannotRun(t, "keyctl keyring in use", fmt.Sprintf("if it is left from a test run: keyctl unlink %d @u (keyutils)%s", existed, ops.whose()),
			"the user's kernel keyring already has a keyring %q holding %d keys, a real mediator keyctl store or left by an earlier run; "+
				"the test would overwrite and remove items there, so it does not run", name, len(before))
	}
	t.Cleanup(func() {
		ring, after, err := ops.keys(name)
		if err != nil {
			t.Errorf("reading the keyctl keyring %q after the test: %v", name, err)
			return
		}
		if ring == 0 {
			return
		}
		for _, id := range after {
			if !slices.Contains(before, id) {
				if err := ops.unlink(id, ring); err != nil {
					t.Errorf("unlinking key %d from the keyctl keyring %q: %v", id, name, err)
				}
			}
		}
		if existed == 0 {
			if err := ops.unlink(ring, 0); err != nil {
				t.Errorf("unlinking the keyctl keyring %q the test created: %v", name, err)
			}
		}
		if ring, left, err := ops.keys(name); err != nil || len(left) != len(before) || existed == 0 && ring != 0 {
			t.Errorf("the test left the keyctl keyring %q behind (%d keys, was %d): %v", name, len(left), len(before), err)
		}
	})
}

type inProcess struct{}

func (inProcess) keys(name string) (int32, []int32, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", name, 0)
	if errors.Is(err, unix.ENOKEY) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 4096)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if err != nil {
		return 0, nil, err
	}
	if n > len(buf) {
		buf = make([]byte, n)
		if n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err != nil {
			return 0, nil, err
		}
	}
	var keys []int32
	for i := 0; i+4 <= n && i+4 <= len(buf); i += 4 {
		keys = append(keys, int32(binary.NativeEndian.Uint32(buf[i:])))
	}
	return int32(id), keys, nil
}

func (inProcess) whose() string { return "" }

func (inProcess) unlink(key, ring int32) error {
	if ring == 0 {
		ring = unix.KEY_SPEC_USER_KEYRING
	}
	_, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, int(key), int(ring), 0, 0)
	return err
}

// KeyctlHelperEnv makes a test binary run one keyctl operation for
// KeyctlKeyringAs (see RunKeyctlHelper).
const KeyctlHelperEnv = "MEDIATOR_TESTENV_KEYCTL"

// keyctlReply is what the helper prints.
type keyctlReply struct {
	Ring int32   `json:"ring"`
	Keys []int32 `json:"keys"`
	Err  string  `json:"err,omitempty"`
}

// RunKeyctlHelper runs the operation KeyctlHelperEnv names, prints the
// answer and returns the exit code; it returns -1 when the variable is not
// set, and the test binary goes on with its tests:
//
//	func TestMain(m *testing.M) {
//		if code := testenv.RunKeyctlHelper(); code >= 0 {
//			os.Exit(code)
//		}
//		os.Exit(m.Run())
//	}
func RunKeyctlHelper() int {
	op := strings.Fields(os.Getenv(KeyctlHelperEnv))
	if len(op) == 0 {
		return -1
	}
	var r keyctlReply
	var err error
	switch {
	case op[0] == "keys" && len(op) == 2:
		r.Ring, r.Keys, err = inProcess{}.keys(op[1])
	case op[0] == "unlink" && len(op) == 3:
		key, err1 := strconv.ParseInt(op[1], 10, 32)
		ring, err2 := strconv.ParseInt(op[2], 10, 32)
		if err = errors.Join(err1, err2); err == nil {
			err = inProcess{}.unlink(int32(key), int32(ring))
		}
	default:
		err = fmt.Errorf("unknown keyctl helper operation %q", op)
	}
	if err != nil {
		r.Err = err.Error()
	}
	if json.NewEncoder(os.Stdout).Encode(r) != nil {
		return 1
	}
	return 0
}

// asUser runs the operations in exe as user.
type asUser struct {
	exe  string
	user *syscall.Credential
}

func (a asUser) run(op string) (keyctlReply, error) {
	cmd := exec.Command(a.exe, "-test.run=^$")
	cmd.Env = []string{KeyctlHelperEnv + "=" + op}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.user}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r keyctlReply
	if err == nil {
		err = json.Unmarshal(out, &r)
	}
	if err != nil {
		return r, fmt.Errorf("keyctl helper %q as uid %d: %v\n%s", op, a.user.Uid, err, stderr.String())
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	return r, nil
}

func (a asUser) whose() string { return fmt.Sprintf(", as uid %d", a.user.Uid) }

func (a asUser) keys(name string) (int32, []int32, error) {
	r, err := a.run("keys " + name)
	return r.Ring, r.Keys, err
}

func (a asUser) unlink(key, ring int32) error {
	_, err := a.run(fmt.Sprintf("unlink %d %d", key, ring))
	return err
}
