//go:build unix

package workflows

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// ProcessAlive reports whether a process with this pid exists; signal 0
// checks without sending anything. A zombie (killed, not yet reaped by its
// parent) answers signal 0 too, but runs nothing: where /proc tells, it
// counts as dead, so a run killed a moment ago can be resumed at once.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !zombie(pid)
}

// zombie reads the state field of /proc/PID/stat: "PID (COMM) STATE ...",
// where COMM may itself hold spaces and parentheses.
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z'
}
