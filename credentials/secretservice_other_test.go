//go:build !linux

package credentials

import "testing"

func secretServiceOpener(t *testing.T) openFunc {
	t.Skip("the Secret Service is supported only on Linux")
	return nil
}
