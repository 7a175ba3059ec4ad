package bytesize

import "testing"

func TestApprox(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1: "1 byte", 999: "999 bytes", 1000: "1 kB", 120_400: "120 kB", 9_140_000: "9.1 MB", 3_000_000_000: "3.0 GB"} {
		if got := Approx(n); got != want {
			t.Errorf("Approx(%d) = %q, want %q", n, got, want)
		}
	}
}
