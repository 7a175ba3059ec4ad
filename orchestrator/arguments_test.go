package orchestrator

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// The arguments' encoding is their digest in the audit log and what goes
// on the wire, so the fast path must produce encoding/json's bytes.
func TestJSONArgsMatchesEncodingJSON(t *testing.T) {
	nasty := "q\"uote \\ back\nnl\r\t\b\f \x01 <tag> & \u2028\u2029 é 日本 \xff\xfe bad"
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 1 << 53}
	var many []any
	for _, f := range floats {
		many = append(many, f)
		if f32 := float32(f); !math.IsInf(float64(f32), 0) {
			many = append(many, f32)
		}
	}
	cases := []map[string]any{
		{},
		{"city": "Lisbon", "days": 3},
		{nasty: nasty, "b": true, "f": false, "n": nil},
		{"floats": many},
		{"ints": []any{int(-7), int64(math.MinInt64), int32(math.MaxInt32), uint(7), uint64(math.MaxUint64), uint32(math.MaxUint32)}},
		{"nested": map[string]any{"z": []any{map[string]any{"b": 1, "a": []any{}}, "x"}, "a": map[string]any{}}},
		{"keys": map[string]any{"b": 1, "B": 2, "a": 3, "é": 4, "<": 5, "": 6, "aa": 7, "a\x00": 8}},
	}
	for _, args := range cases {
		want, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		plain, got, err := jsonArgs(args)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("jsonArgs(%v):\n got %s, %v\nwant %s", args, got, err, want)
		}
		if _, ok := appendPlainJSON(nil, args); !ok {
			t.Errorf("%v took the slow path", args)
		}
		if plain == nil {
			t.Errorf("%v: no plain arguments", args)
		}
	}

	// Other Go values go through encoding/json, and are validated as the
	// JSON they become.
	type where struct {
		Room string `json:"room"`
	}
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"w": where{Room: "A"}}, `{"w":{"room":"A"}}`},
		{map[string]any{"raw": json.RawMessage(`[1, 2]`)}, `{"raw":[1,2]}`},
		{map[string]any{"m": map[string]any(nil), "s": []any(nil)}, `{"m":null,"s":null}`},
		{map[string]any{"strs": []string{"a"}}, `{"strs":["a"]}`},
	} {
		plain, got, err := jsonArgs(c.args)
		if err != nil || string(got) != c.want {
			t.Errorf("jsonArgs(%v) = %s, %v; want %s", c.args, got, err, c.want)
		}
		if again, _ := json.Marshal(plain); string(again) != c.want {
			t.Errorf("plain form of %v is %s", c.args, again)
		}
	}
	if _, _, err := jsonArgs(map[string]any{"x": math.NaN()}); err == nil {
		t.Error("NaN encoded")
	}
	if _, _, err := jsonArgs(nil); err != nil {
		t.Error(err)
	}
}

func BenchmarkJSONArgs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := jsonArgs(map[string]any{"city": "Lisbon", "days": 3, "unit": "celsius"}); err != nil {
			b.Fatal(err)
		}
	}
}
