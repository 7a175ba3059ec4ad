package orchestrator

import (
	"reflect"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Every field of go-sdk's Tool is pinned, those it has now (title, _meta,
// icons, ...) and any it gains: a field a host shows or a model reads must
// not change under a pin. A new field of a kind this test cannot fill
// fails it, so that someone decides.
func TestPinCoversEveryToolField(t *testing.T) {
	base := &mcp.Tool{Name: "t", InputSchema: map[string]any{"type": "object"}}
	basePin, err := pinOf(base)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[mcp.Tool]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		tool := *base
		v := reflect.ValueOf(&tool).Elem().Field(i)
		switch f.Type {
		case reflect.TypeFor[string]():
			v.SetString("changed")
		case reflect.TypeFor[any]():
			v.Set(reflect.ValueOf(map[string]any{"type": "object", "description": "changed"}))
		case reflect.TypeFor[mcp.Meta]():
			v.Set(reflect.ValueOf(mcp.Meta{"vendor/x": "changed"}))
		case reflect.TypeFor[*mcp.ToolAnnotations]():
			v.Set(reflect.ValueOf(&mcp.ToolAnnotations{Title: "changed"}))
		case reflect.TypeFor[[]mcp.Icon]():
			v.Set(reflect.ValueOf([]mcp.Icon{{Source: "https://example.com/changed.png"}}))
		default:
			t.Fatalf("mcp.Tool has a field %s of type %s that this test cannot fill: make sure it is pinned, and teach the test", f.Name, f.Type)
		}
		p, err := pinOf(&tool)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if p.hash == basePin.hash {
			t.Errorf("changing mcp.Tool.%s leaves the pin as it was", f.Name)
		}
	}
}
