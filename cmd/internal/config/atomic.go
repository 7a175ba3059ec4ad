package config

import (
	"os"

	"github.com/mediatorhq/mediator/internal/privfile"
)

// WriteFileAtomic replaces path with data so that a reader (or a crash)
// sees the old file or the new one, never half of each. A new file gets
// mode 0600 in a 0700 directory; an existing one keeps its mode. The
// directory of an existing file is not checked: a config file holds no
// secret and may be shared.
func WriteFileAtomic(path string, data []byte) error {
	mode := privfile.FileMode
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return privfile.Replace(path, data, mode)
}
