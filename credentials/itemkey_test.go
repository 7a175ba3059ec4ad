package credentials

import (
	"strings"
	"testing"
)

func TestItemKeyRoundTrip(t *testing.T) {
	parts := []string{
		"weather", "api-key", "My Server", "a/b", "..", ".", "-rf", "%41", "%",
		"ümlaut", "name with spaces.", ".hidden", "UPPER", "upper", "x:y\\z",
		"日本", "emoji 🔑", "a%2Fb", "tab\u00a0nbsp",
	}
	seen := map[string]string{}
	for _, server := range parts {
		for _, name := range parts {
			key, err := itemKey(DefaultServiceName, server, name)
			if err != nil {
				t.Fatalf("itemKey(%q, %q): %v", server, name, err)
			}
			s, n, ok := parseItemKey(DefaultServiceName, key)
			if !ok || s != server || n != name {
				t.Fatalf("key %q of (%q, %q) parses as (%q, %q, %v)", key, server, name, s, n, ok)
			}
			// Case-insensitive stores must still keep every item apart.
			folded := strings.ToLower(key)
			if prev, dup := seen[folded]; dup {
				t.Fatalf("keys %q and %q collide when case is ignored", prev, key)
			}
			seen[folded] = key
			for _, seg := range strings.Split(key, "/") {
				if seg == "." || seg == ".." || strings.HasPrefix(seg, "-") || strings.HasSuffix(seg, ".") {
					t.Errorf("key %q has the unsafe segment %q", key, seg)
				}
				if strings.ContainsAny(seg, `<>:"\|?* `) {
					t.Errorf("key %q has a character Windows file names reject", key)
				}
			}
		}
	}
}

func TestItemKeyReadable(t *testing.T) {
	key, err := itemKey(DefaultServiceName, "weather", "api-key")
	if err != nil || key != "mediator/weather/api-key" {
		t.Errorf("got %q, %v", key, err)
	}
}

func TestParseItemKeyRejectsForeignKeys(t *testing.T) {
	for _, key := range []string{
		"mediator/.canary-0123",
		"other/weather/token",
		"mediator/weather",
		"mediator/weather/tok/en",
		"mediator/Weather/token",   // not canonical: upper case is escaped
		"mediator/%77eather/token", // not canonical: 'w' needs no escape
		"mediator/we%2fther/token", // lower-case hex
		"mediator/weather/tok%",
		"mediator//token",
		"mediator/%0A/token", // control character
	} {
		if s, n, ok := parseItemKey(DefaultServiceName, key); ok {
			t.Errorf("parseItemKey(%q) = (%q, %q), want rejection", key, s, n)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []struct{ v, want string }{
		{"", "server is empty"},
		{"a\nb", "control character U+000A"},
		{"a\x00b", "control character U+0000"},
		{"a\x1b[31m", "control character U+001B"},
		{"\xff", "not valid UTF-8"},
	} {
		err := ValidateName("server", bad.v)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "printable") {
			t.Errorf("ValidateName(%q) = %v, want an error with %q that says what is valid", bad.v, err, bad.want)
		}
	}
	if _, err := itemKey(DefaultServiceName, strings.Repeat("s", 130), strings.Repeat("n", 130)); err == nil ||
		!strings.Contains(err.Error(), "too long") {
		t.Errorf("a 260-character key was accepted: %v", err)
	}
	if _, err := itemKey(DefaultServiceName, strings.Repeat("s", 100), strings.Repeat("n", 100)); err != nil {
		t.Errorf("a 200-character plain key was refused: %v", err)
	}
}
