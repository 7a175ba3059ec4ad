//go:build unix

package privfile

import (
	"io/fs"
	"os"
	"syscall"
)

// permsMeaningful: Unix permission bits say who may use a file.
const permsMeaningful = true

func ownedByUs(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
