//go:build linux

package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter refuses what Landlock does not cover:
//   - keyctl, add_key and request_key, so a child cannot read the items of
//     the keyctl keyring backend (the user's kernel keyring);
//   - io_uring_setup, whose operations (socket, openat) bypass seccomp;
//   - socket(AF_UNIX) unless Policy.UnixSockets: Landlock before ABI v9
//     cannot stop connect(2) to a path socket such as the D-Bus session bus
//     that Secret Service and KWallet answer on;
//   - socket(AF_INET, AF_INET6) unless Policy.Network;
//   - every syscall of another ABI (x32, i386), which would dodge the
//     numbers checked here.
// Refused calls fail with EPERM or EACCES; nothing is killed.

// seccompData offsets (struct seccomp_data).
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian
)

const x32SyscallBit = 0x40000000

func seccompArch() (uint32, error) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, nil
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, nil
	}
	return 0, fmt.Errorf("mediator has no seccomp filter for %s", runtime.GOARCH)
}

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jeq(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

func ret(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }

func errno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA }

// seccompFilter assembles the filter for p.
func seccompFilter(p Policy) ([]unix.SockFilter, error) {
	arch, err := seccompArch()
	if err != nil {
		return nil, err
	}
	denied := []uint32{unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY, unix.SYS_IO_URING_SETUP}
	var domains []uint32
	if !p.UnixSockets {
		domains = append(domains, unix.AF_UNIX)
	}
	if !p.Network {
		domains = append(domains, unix.AF_INET, unix.AF_INET6)
	}

	f := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jeq(arch, 1, 0),
		ret(errno(unix.ENOSYS)),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr),
	}
	if runtime.GOARCH == "amd64" {
		// x32 numbers carry bit 30; refuse them all.
		f = append(f,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 1, K: x32SyscallBit},
			ret(errno(unix.ENOSYS)))
	}
	for _, nr := range denied {
		f = append(f, jeq(nr, 0, 1), ret(errno(unix.EPERM)))
	}
	if len(domains) > 0 {
		f = append(f, jeq(unix.SYS_SOCKET, 1, 0), ret(unix.SECCOMP_RET_ALLOW))
		f = append(f, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0))
		for _, d := range domains {
			f = append(f, jeq(d, 0, 1), ret(errno(unix.EACCES)))
		}
	}
	f = append(f, ret(unix.SECCOMP_RET_ALLOW))
	return f, nil
}

func uintptrOf(p *unix.SockFprog) uintptr { return uintptr(unsafe.Pointer(p)) }
