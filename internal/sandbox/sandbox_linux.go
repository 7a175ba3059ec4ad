//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// minABI is the oldest Landlock ABI mediator confines with: v6 scopes
// abstract Unix sockets and signals to the child's domain. Older kernels
// would leave the D-Bus session bus's abstract socket reachable.
const minABI = 6

// Probe reports whether this kernel can confine children.
func Probe() Status {
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return Status{Reason: "the kernel has no Landlock (needs Linux 6.7 or newer with landlock in the lsm= boot list)"}
	}
	if abi < minABI {
		return Status{LandlockABI: abi, Reason: fmt.Sprintf("the kernel's Landlock ABI is v%d; mediator needs v%d (Linux 6.12 or newer)", abi, minABI)}
	}
	if _, err := seccompArch(); err != nil {
		return Status{LandlockABI: abi, Reason: err.Error()}
	}
	return Status{Available: true, LandlockABI: abi}
}

// Harden makes mediator's own process non-dumpable, so that processes of
// the same user (without CAP_SYS_PTRACE) can neither ptrace it nor read its
// /proc/PID/environ, mem or fds. Call it before reading any secret.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// Start confines the process that start starts (typically exec.Cmd.Start):
// start runs on an OS thread that has restricted itself with p, and the
// thread is discarded afterwards, so mediator's other threads keep every
// right. start must start the child on the calling goroutine.
func Start(p Policy, start func() error) error {
	st := Probe()
	if !st.Available {
		return fmt.Errorf("sandbox: %s", st.Reason)
	}
	rulesetFD, flags, err := ruleset(p)
	if err != nil {
		return err
	}
	defer unix.Close(rulesetFD)
	filter, err := seccompFilter(p)
	if err != nil {
		return err
	}

	return <-onSpareThread(func() error { return restrictThreadAndStart(rulesetFD, flags, filter, start) })
}

// onSpareThread runs f on an OS thread of its own that the Go runtime ends
// afterwards, and never on the main thread: that one is the thread group
// leader, which a child signals or ptraces as "mediator", and the runtime
// keeps it (wedged) instead of ending it, so whatever f does to its thread
// would stay with mediator.
func onSpareThread(f func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine ends on the thread, and the Go
		// runtime then ends the thread rather than reuse it.
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			done <- f()
			return
		}
		// On the main thread: hold it, so the goroutine below runs on
		// another, and give it back untouched.
		done <- <-onSpareThread(f)
		runtime.UnlockOSThread()
	}()
	return done
}

func restrictThreadAndStart(rulesetFD int, flags uint32, filter []unix.SockFilter, start func() error) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("sandbox: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if os.Geteuid() == 0 {
		// A root child keeps uid 0 but gets no capabilities after exec.
		if err := dropBoundingSet(); err != nil {
			return err
		}
	}
	if err := llsys.LandlockRestrictSelf(rulesetFD, flags); err != nil {
		return fmt.Errorf("sandbox: landlock_restrict_self: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptrOf(&prog), 0, 0); err != nil {
		return fmt.Errorf("sandbox: installing the seccomp filter: %w", err)
	}
	return start()
}

// ruleset builds the Landlock ruleset of p: every filesystem right is
// handled (so denied unless granted), TCP too when p.Network is false, and
// abstract Unix sockets and signals are scoped to the child's domain.
func ruleset(p Policy) (fd int, flags uint32, err error) {
	cfg := landlock.V10.BestEffort()
	if p.Network {
		cfg.HandledAccessNet = 0
	}
	if p.UnixSockets {
		cfg.HandledAccessFS &^= llsys.AccessFSResolveUnix
	}
	var rules []landlock.Rule
	// A path listed twice gets one rule, with the wider rights: every
	// rule costs go-landlock an open and a system call.
	writable := make(map[string]bool, len(devices)+len(p.Write))
	for _, list := range [][]string{devices, p.Write} {
		for _, path := range list {
			if !writable[path] {
				writable[path] = true
				rules = appendRule(rules, path, true)
			}
		}
	}
	readable := make(map[string]bool, len(p.Read))
	for _, path := range p.Read {
		if !writable[path] && !readable[path] {
			readable[path] = true
			rules = appendRule(rules, path, false)
		}
	}
	fd, flags, err = cfg.NewRulesetFD(rules...)
	if err != nil {
		return -1, 0, fmt.Errorf("sandbox: building the Landlock ruleset: %w", err)
	}
	if fd < 0 {
		return -1, 0, errors.New("sandbox: the Landlock ruleset restricts nothing on this kernel")
	}
	return fd, flags, nil
}

var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// appendRule grants read (and execute) or read-write access beneath path;
// a file gets only the rights that apply to files. A path this process
// cannot open (missing, or behind a directory it may not search) grants
// nothing, since the child could not reach it either.
func appendRule(rules []landlock.Rule, path string, write bool) []landlock.Rule {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return rules
	}
	dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case write && dir:
		return append(rules, landlock.RWDirs(path).WithRefer().IgnoreIfMissing())
	case write:
		return append(rules, landlock.RWFiles(path).IgnoreIfMissing())
	case dir:
		return append(rules, landlock.RODirs(path).IgnoreIfMissing())
	default:
		return append(rules, landlock.ROFiles(path).IgnoreIfMissing())
	}
}

// dropBoundingSet empties the calling thread's capability bounding set,
// which the child inherits.
func dropBoundingSet() error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("sandbox: dropping capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}
