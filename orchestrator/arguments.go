package orchestrator

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// jsonArgs returns args as plain JSON values (what the validator and the
// wire see) and their canonical JSON encoding: encoding/json's, with
// object keys sorted. nil args are the empty object.
func jsonArgs(args map[string]any) (map[string]any, []byte, error) {
	if args == nil {
		args = map[string]any{}
	}
	// Arguments that are already plain JSON values, as decoded JSON and
	// most callers' maps are, are encoded here without reflection: this
	// runs on every call.
	if b, ok := appendPlainJSON(make([]byte, 0, 128), args); ok {
		return args, b, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, nil, err
	}
	// Structs, typed slices or json.RawMessage: validate what will actually
	// be sent, which is their JSON form.
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, nil, err
	}
	return plain, b, nil
}

// appendPlainJSON appends v's JSON exactly as encoding/json encodes it,
// or reports false if v holds anything but the types encoding/json
// decodes into, Go integers and float32, or holds a nil map or slice
// (JSON null, though its Go type says otherwise) or a value JSON cannot
// hold (NaN, infinities); encoding/json then encodes or rejects it.
func appendPlainJSON(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, x), true
	case bool:
		return strconv.AppendBool(b, x), true
	case float64:
		return appendJSONFloat(b, x, 64)
	case float32:
		return appendJSONFloat(b, float64(x), 32)
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), true
	case []any:
		if x == nil {
			return b, false // sent as null, checked as an array: decode it first
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendPlainJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		if x == nil {
			return b, false // sent as null, checked as an object: decode it first
		}
		var buf [16]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendPlainJSON(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}

// appendJSONFloat formats f as encoding/json does for a float of the
// given size.
func appendJSONFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
