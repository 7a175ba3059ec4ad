//go:build !unix

package privfile

import "io/fs"

// permsMeaningful: elsewhere (Windows) the permission bits Go reports are
// made up from the read-only flag; access is a matter of ACLs, which a
// new file inherits from its directory under the user's profile.
const permsMeaningful = false

func ownedByUs(fs.FileInfo) bool { return true }
