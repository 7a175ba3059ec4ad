package config

import (
	"testing"
)

// max_result_bytes takes a number of bytes or a size with a unit, and
// reaches the connector as bytes.
func TestMaxResultBytes(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com
    max_result_bytes: 1048576
  b:
    url: https://b.example.com
    max_result_bytes: 64MiB
  c:
    command: srv
    max_result_bytes: "500 MB"
  d:
    url: https://d.example.com
`
	cfg, _, err := load(t, "config.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 1 << 20, "b": 64 << 20, "c": 500e6, "d": 0}
	for _, sc := range cfg.ServerConfigs() {
		if sc.MaxResultBytes != want[sc.Name] {
			t.Errorf("server %s: MaxResultBytes %d, want %d", sc.Name, sc.MaxResultBytes, want[sc.Name])
		}
	}
}

// A size that cannot be read is reported at its line with the forms that
// would be valid.
func TestMaxResultBytesProblems(t *testing.T) {
	const y = `servers:
  a:
    url: https://a.example.com
    max_result_bytes: lots
  b:
    url: https://b.example.com
    max_result_bytes: 0
  c:
    url: https://c.example.com
    max_result_bytes: 1.5MiB
  d:
    url: https://d.example.com
    max_result_bytes: 16M
  e:
    url: https://e.example.com
    max_result_bytes: -1
`
	_, path, err := load(t, "config.yaml", y, nil)
	const forms = `write a whole number of bytes (16777216) or one with a unit (16MiB, 64MB, 512KiB; units: B, KB, MB, GB, KiB, MiB, GiB)`
	assertProblems(t, problems(t, err, path), []string{
		`FILE:4:23: servers.a.max_result_bytes: "lots" is not a size; ` + forms,
		`FILE:7:23: servers.b.max_result_bytes: must be more than 0 bytes, got 0`,
		`FILE:10:23: servers.c.max_result_bytes: "1.5MiB" is not a size; ` + forms,
		`FILE:13:23: servers.d.max_result_bytes: "16M" is not a size; ` + forms,
		`FILE:16:23: servers.e.max_result_bytes: "-1" is not a size; ` + forms,
	})
}
