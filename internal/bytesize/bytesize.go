// Package bytesize reads and writes byte counts the way people write them
// in a config file: a plain number of bytes (16777216) or a whole number
// with a unit (16MiB, 64MB, 512 KiB).
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Units are the unit names Parse accepts, in either case: B (or bytes),
// and decimal (KB = 1000 B) and binary (KiB = 1024 B) multiples.
const Units = "B, KB, MB, GB, KiB, MiB, GiB"

var multipliers = map[string]int64{
	"":      1,
	"b":     1,
	"byte":  1,
	"bytes": 1,
	"kb":    1000,
	"mb":    1000 * 1000,
	"gb":    1000 * 1000 * 1000,
	"kib":   1 << 10,
	"mib":   1 << 20,
	"gib":   1 << 30,
}

// Parse reads a byte count: digits, then optionally spaces and one of
// Units. It rejects fractions, signs and unknown units with an error that
// says what would be valid.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	mult, known := multipliers[unit]
	if i == 0 || !known {
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes (16777216) or one with a unit (16MiB, 64MB, 512KiB; units: %s)", s, Units)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// Format writes n the way a person would read it: in the largest binary or
// decimal unit that divides it exactly ("16 MiB", "64 MB"), else in bytes.
func Format(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	if n == 1 {
		return "1 byte"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// Approx writes n rounded for a person to take in at a glance, in decimal
// units: "9.1 MB", "120 kB", "512 bytes" (a file's size, not a setting
// that has to be exact, which Format is for).
func Approx(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	case n == 1:
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}
