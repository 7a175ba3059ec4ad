package credentials

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canaryValue = "CANARY-s3cr3t-9f2d7c41"

func assertNoCanary(t *testing.T, where, out string) {
	t.Helper()
	if strings.Contains(out, canaryValue) {
		t.Errorf("%s leaks the secret: %s", where, out)
	}
}

type withSecret struct {
	Name  string
	Token Secret
	Ptr   *Secret
}

type withPrivateSecret struct {
	name  string
	token Secret
}

// Verbs that vet rejects for a struct, passed through variables because
// some caller somewhere will use them anyway.
var verbS, verbQ = "%s", "%q"

func TestSecretFormattingRedacts(t *testing.T) {
	s := NewSecret(canaryValue)
	outer := withSecret{Name: "weather", Token: s, Ptr: &s}
	private := withPrivateSecret{name: "weather", token: s}
	cases := map[string]string{
		"%v":          fmt.Sprintf("%v", s),
		"%+v":         fmt.Sprintf("%+v", s),
		"%#v":         fmt.Sprintf("%#v", s),
		"%s":          fmt.Sprintf("%s", s),
		"%q":          fmt.Sprintf("%q", s),
		"%x":          fmt.Sprintf("%x", s),
		"%X":          fmt.Sprintf("%X", s),
		"%d":          fmt.Sprintf("%d", s),
		"%10.3s":      fmt.Sprintf("%10.3s", s),
		"Sprint":      fmt.Sprint(s),
		"Sprintln":    fmt.Sprintln(s, &s),
		"pointer %v":  fmt.Sprintf("%v", &s),
		"struct %v":   fmt.Sprintf("%v", outer),
		"struct %+v":  fmt.Sprintf("%+v", outer),
		"struct %#v":  fmt.Sprintf("%#v", outer),
		"private %v":  fmt.Sprintf("%v", private),
		"private %+v": fmt.Sprintf("%+v", private),
		"private %#v": fmt.Sprintf("%#v", private),
		"private ptr": fmt.Sprintf("%+v", &private),
		"slice %v":    fmt.Sprintf("%v", []Secret{s, s}),
		"map %v":      fmt.Sprintf("%v", map[string]Secret{"k": s}),
		"map key %v":  fmt.Sprintf("%v", map[Secret]int{s: 1}),
		"any %v":      fmt.Sprintf("%v", []any{s}),
		"Errorf %v":   fmt.Errorf("bad token %v", s).Error(),
		"String":      s.String(),
		"GoString":    s.GoString(),
	}
	for name, out := range cases {
		assertNoCanary(t, name, out)
		if !strings.Contains(out, redacted) && !strings.HasPrefix(name, "private") {
			t.Errorf("%s = %q, want it to say %s", name, out, redacted)
		}
	}
}

func TestSecretMarshalRedacts(t *testing.T) {
	s := NewSecret(canaryValue)
	for name, v := range map[string]any{
		"value":      s,
		"pointer":    &s,
		"struct":     withSecret{Name: "weather", Token: s, Ptr: &s},
		"map value":  map[string]Secret{"token": s},
		"map key":    map[Secret]string{s: "x"},
		"slice":      []Secret{s},
		"any nested": map[string]any{"a": []any{s, map[string]any{"b": &s}}},
	} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json %s: %v", name, err)
		}
		assertNoCanary(t, "json "+name, string(data))
		if !strings.Contains(string(data), redacted) {
			t.Errorf("json %s = %s, want %s in it", name, data, redacted)
		}
	}

	type xmlDoc struct {
		XMLName xml.Name `xml:"doc"`
		Attr    Secret   `xml:"token,attr"`
		Elem    Secret   `xml:"secret"`
	}
	data, err := xml.Marshal(xmlDoc{Attr: s, Elem: s})
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "xml", string(data))
	if strings.Count(string(data), redacted) != 2 {
		t.Errorf("xml = %s, want two %s", data, redacted)
	}
}

func TestSecretSlogRedacts(t *testing.T) {
	s := NewSecret(canaryValue)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewTextHandler(&buf, nil),
		slog.NewJSONHandler(&buf, nil),
	} {
		log := slog.New(h)
		log.Info("connect", "token", s, "ptr", &s)
		log.Info("connect", slog.Any("token", s), slog.Group("auth", "secret", s))
		log.Info("struct", "cfg", withSecret{Name: "weather", Token: s, Ptr: &s})
		log.Info("private", "cfg", withPrivateSecret{name: "weather", token: s})
		log.Info(fmt.Sprint("msg ", s))
	}
	out := buf.String()
	assertNoCanary(t, "slog", out)
	if strings.Count(out, redacted) < 10 {
		t.Errorf("slog output does not show %s where expected:\n%s", redacted, out)
	}
}

func TestSecretRevealAndEqual(t *testing.T) {
	s := NewSecret(canaryValue)
	if s.Reveal() != canaryValue {
		t.Fatal("Reveal does not return the value")
	}
	if !s.Equal(NewSecret(canaryValue)) || s.Equal(NewSecret("other")) {
		t.Error("Equal compares wrongly")
	}
	var zero Secret
	if !zero.IsZero() || !NewSecret("").IsZero() || s.IsZero() {
		t.Error("IsZero is wrong")
	}
	if zero.Reveal() != "" || fmt.Sprint(zero) != redacted {
		t.Error("the zero Secret misbehaves")
	}
}
