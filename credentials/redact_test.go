package credentials

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// A value with characters that every encoding treats differently.
const trickyValue = `sk-live/4f+e<&>"q u=ö`

func TestRedactEncodings(t *testing.T) {
	r := NewRedactor()
	r.Add(NewSecret(trickyValue))
	b := []byte(trickyValue)
	jsonForm, _ := json.Marshal(trickyValue)
	forms := map[string]string{
		"raw":           trickyValue,
		"base64 std":    base64.StdEncoding.EncodeToString(b),
		"base64 raw":    base64.RawStdEncoding.EncodeToString(b),
		"base64 url":    base64.URLEncoding.EncodeToString(b),
		"base64 rawurl": base64.RawURLEncoding.EncodeToString(b),
		"query":         url.QueryEscape(trickyValue),
		"path":          url.PathEscape(trickyValue),
		"json":          strings.Trim(string(jsonForm), `"`),
		"hex":           hex.EncodeToString(b),
		"HEX":           strings.ToUpper(hex.EncodeToString(b)),
	}
	for name, form := range forms {
		in := "before " + form + " after"
		want := "before " + redacted + " after"
		if got := r.Redact(in); got != want {
			t.Errorf("%s: Redact(%q) = %q, want %q", name, in, got, want)
		}
		if got := string(r.RedactBytes([]byte(in))); got != want {
			t.Errorf("%s: RedactBytes = %q, want %q", name, got, want)
		}
	}

	// A whole JSON document and a URL built by the standard library.
	doc, _ := json.Marshal(map[string]string{"token": trickyValue})
	if got := r.Redact(string(doc)); got != `{"token":"`+redacted+`"}` {
		t.Errorf("JSON document: %s", got)
	}
	u := url.URL{Scheme: "https", Host: "x.example", RawQuery: url.Values{"key": {trickyValue}}.Encode()}
	if got := r.Redact(u.String()); got != "https://x.example?key="+redacted {
		t.Errorf("URL: %s", got)
	}
}

func TestRedactInsideLongerBase64(t *testing.T) {
	const value = "tok-0123456789abcdef"
	r := NewRedactor()
	r.Add(NewSecret(value))
	for _, prefix := range []string{"", "u", "us", "user:", "Bearer xyz "} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			blob := enc.EncodeToString([]byte(prefix + value + "!tail"))
			got := r.Redact("Authorization: Basic " + blob)
			if !strings.Contains(got, redacted) {
				t.Errorf("prefix %q: %q not masked", prefix, got)
			}
			// At most the characters that also carry a byte just inside
			// either edge of the value may stay visible.
			pre, post, ok := strings.Cut(strings.TrimPrefix(got, "Authorization: Basic "), redacted)
			if !ok {
				continue
			}
			firstBit, endBit := 8*(len(prefix)+1), 8*(len(prefix)+len(value)-1)
			if maxPre := (firstBit + 5) / 6; len(pre) > maxPre {
				t.Errorf("prefix %q: %q visible before the mask, at most %d characters allowed", prefix, pre, maxPre)
			}
			if maxPost := len(blob) - endBit/6; len(post) > maxPost {
				t.Errorf("prefix %q: %q visible after the mask, at most %d characters allowed", prefix, post, maxPost)
			}
		}
	}
}

func TestRedactShortValuesIgnored(t *testing.T) {
	r := NewRedactor()
	r.Add(NewSecret("abc"))
	r.Add(NewSecret(""))
	if got := r.Redact("abc abcabc"); got != "abc abcabc" {
		t.Errorf("a %d-character value was masked: %q", len("abc"), got)
	}
	r.Add(NewSecret("abcd"))
	if got := r.Redact("xabcdx"); got != "x"+redacted+"x" {
		t.Errorf("a %d-character value was not masked: %q", MinRedactLen, got)
	}
}

func TestRedactLongestMatchWins(t *testing.T) {
	r := NewRedactor()
	r.Add(NewSecret("secret-one"))
	r.Add(NewSecret("secret-one-and-more"))
	if got := r.Redact("a secret-one-and-more b secret-one c"); got != "a "+redacted+" b "+redacted+" c" {
		t.Errorf("got %q", got)
	}
}

func TestRedactNilAndZero(t *testing.T) {
	var nilR *Redactor
	nilR.Add(NewSecret(canaryValue))
	if nilR.Redact(canaryValue) != canaryValue {
		t.Error("a nil redactor changed text")
	}
	if got := nilR.RedactValue(map[string]any{"s": NewSecret(canaryValue)}); fmt.Sprint(got) != "map[s:"+redacted+"]" {
		t.Errorf("a nil redactor let a Secret through: %v", got)
	}
	var zero Redactor
	zero.Add(NewSecret(canaryValue))
	if zero.Redact("x "+canaryValue) != "x "+redacted {
		t.Error("the zero Redactor does not work")
	}
}

func TestRedactValue(t *testing.T) {
	r := NewRedactor()
	r.Add(NewSecret(canaryValue))
	r.Add(NewSecret("424242"))
	type args struct {
		Query string `json:"query"`
		Token Secret `json:"token"`
	}
	in := map[string]any{
		"text":      "key=" + canaryValue,
		canaryValue: "as a key",
		"list":      []any{"ok", canaryValue, 3.5, true, nil},
		"number":    424242.0,
		"int":       424242,
		"jsnum":     json.Number("1424242"),
		"struct":    args{Query: "q " + canaryValue, Token: NewSecret("other-secret")},
		"strs":      []string{canaryValue},
		"smap":      map[string]string{"a": canaryValue},
		"raw":       json.RawMessage(`{"x":"` + canaryValue + `"}`),
		"keep":      12.0,
	}
	out := r.RedactValue(in)
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "RedactValue", string(data))
	if strings.Contains(string(data), "424242") || strings.Contains(string(data), "other-secret") {
		t.Errorf("a secret survived: %s", data)
	}
	m := out.(map[string]any)
	if m["keep"] != 12.0 || m["list"].([]any)[0] != "ok" || m["list"].([]any)[2] != 3.5 {
		t.Errorf("plain values changed: %s", data)
	}
	if m["struct"].(map[string]any)["query"] != "q "+redacted {
		t.Errorf("struct not walked: %s", data)
	}
	// The input is untouched.
	if in["text"] != "key="+canaryValue || in["list"].([]any)[1] != canaryValue {
		t.Error("RedactValue modified its input")
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := NewRedactor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.Add(NewSecret(fmt.Sprintf("secret-value-%d", i)))
		}()
		go func() {
			defer wg.Done()
			_ = r.Redact("secret-value-1 secret-value-2")
			_ = r.RedactValue(map[string]any{"a": "secret-value-3"})
		}()
	}
	wg.Wait()
	if got := r.Redact("secret-value-7"); got != redacted {
		t.Errorf("got %q", got)
	}
}

func TestRedactorPrintsNoValues(t *testing.T) {
	r := NewRedactor()
	r.Add(NewSecret(canaryValue))
	holder := struct{ red *Redactor }{r}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v", r, r, r),
		fmt.Sprintf(verbS, r),
		fmt.Sprintf(verbS, holder),
		fmt.Sprintf(verbQ, holder),
		fmt.Sprintf("%+v %#v", holder, holder),
	} {
		assertNoCanary(t, "formatted Redactor", out)
	}
}
