package bytesize

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{
		"16777216": 16 << 20,
		"16MiB":    16 << 20,
		"16 mib":   16 << 20,
		"64MB":     64e6,
		"512KiB":   512 << 10,
		"1kb":      1000,
		"2GiB":     2 << 30,
		"3GB":      3e9,
		"10B":      10,
		" 7 ":      7,
		"0":        0,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "MiB", "-5", "1.5MiB", "16M", "16 MiBs", "0x10", "99999999999GiB", "9223372036854775808"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) passed", in)
			continue
		}
		if !strings.Contains(err.Error(), in) {
			t.Errorf("Parse(%q): error does not quote the input: %v", in, err)
		}
	}
	if _, err := Parse("16M"); err == nil || !strings.Contains(err.Error(), "16MiB, 64MB") {
		t.Errorf("Parse error does not show the valid forms: %v", err)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		16 << 20:         "16 MiB",
		64e6:             "64 MB",
		1 << 10:          "1 KiB",
		1500:             "1500 bytes",
		1:                "1 byte",
		0:                "0 bytes",
		3 << 30:          "3 GiB",
		16<<20 + 1:       "16777217 bytes",
		1536 * (1 << 10): "1536 KiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
	// What Format writes, Parse reads back.
	for _, n := range []int64{16 << 20, 64e6, 1500, 1, 3 << 30} {
		if got, err := Parse(Format(n)); err != nil || got != n {
			t.Errorf("Parse(Format(%d)) = %d, %v", n, got, err)
		}
	}
}
