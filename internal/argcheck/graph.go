package argcheck

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// graph is a resolved schema as jsonschema-go's validator walks it: every
// subschema is a node, and an edge leads from a schema to each schema the
// validator may apply next, either to the same value (in place: $ref,
// $dynamicRef, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas)
// or to a part of it (properties, items, additionalProperties, ...).
// References are resolved here as jsonschema-go resolves them, since it
// does not export its own resolution; where a reference could lead to
// several schemas (a $dynamicRef, a duplicated anchor) the graph has an
// edge to each, so that the work it bounds is never underestimated.
type graph struct {
	root  *node
	nodes map[*jsonschema.Schema]*node
	all   []*node // in tree order
}

// node is one subschema and the schemas the validator may go on to.
type node struct {
	s    *jsonschema.Schema
	ptr  string // its JSON Pointer from the root, for messages
	base *node  // the schema whose URI its references resolve against
	cost nodeCost

	inPlace []*node          // applied to the same value; anyOf's first
	nAnyOf  int              // how many of inPlace are anyOf's, whose failures are all reported
	props   map[string]*node // properties: applied to the member of that name
	prefix  []*node          // prefixItems, or draft-07 items as an array: item i
	each    []*node          // applied to every item or member value
	keys    []*node          // propertyNames: applied to every member name
}

// edgeKind is how the validator applies a schema-valued keyword.
type edgeKind uint8

const (
	edgeNone    edgeKind = iota // not applied ($defs, contentSchema)
	edgeInPlace                 // to the same value
	edgeProp                    // to the member the map key names
	edgePrefix                  // to the item the index names
	edgeEach                    // to every item or member value
	edgeKeys                    // to every member name
	edgeUnknown                 // a keyword this package does not know: assume the worst
)

// schemaField is a schema-valued field of jsonschema.Schema.
type schemaField struct {
	index []int
	name  string // its JSON keyword
	kind  edgeKind
}

// edgeKinds classifies jsonschema.Schema's schema-valued fields by Go name.
var edgeKinds = map[string]edgeKind{
	"Defs": edgeNone, "Definitions": edgeNone, "ContentSchema": edgeNone,
	"AllOf": edgeInPlace, "AnyOf": edgeInPlace, "OneOf": edgeInPlace, "Not": edgeInPlace,
	"If": edgeInPlace, "Then": edgeInPlace, "Else": edgeInPlace,
	"DependentSchemas": edgeInPlace, "DependencySchemas": edgeInPlace,
	"Properties":  edgeProp,
	"PrefixItems": edgePrefix, "ItemsArray": edgePrefix,
	"Items": edgeEach, "AdditionalItems": edgeEach, "Contains": edgeEach, "UnevaluatedItems": edgeEach,
	"PatternProperties": edgeEach, "AdditionalProperties": edgeEach, "UnevaluatedProperties": edgeEach,
	"PropertyNames": edgeKeys,
}

var (
	schemaPtrType   = reflect.TypeFor[*jsonschema.Schema]()
	schemaSliceType = reflect.TypeFor[[]*jsonschema.Schema]()
	schemaMapType   = reflect.TypeFor[map[string]*jsonschema.Schema]()
)

// schemaFields lists the schema-valued fields in the order jsonschema-go
// visits them (by keyword), so that "first one wins" rules agree.
var schemaFields = func() []schemaField {
	var out []schemaField
	for _, sf := range reflect.VisibleFields(reflect.TypeFor[jsonschema.Schema]()) {
		if sf.Type != schemaPtrType && sf.Type != schemaSliceType && sf.Type != schemaMapType {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch sf.Name {
		case "Items", "ItemsArray":
			name = "items"
		case "DependencySchemas":
			name = "dependencies"
		}
		kind, ok := edgeKinds[sf.Name]
		if !ok {
			kind = edgeUnknown
		}
		out = append(out, schemaField{index: sf.Index, name: name, kind: kind})
	}
	slices.SortStableFunc(out, func(a, b schemaField) int { return cmp.Compare(a.name, b.name) })
	return out
}()

// child is one subschema directly under another.
type child struct {
	field *schemaField
	key   string // map key, or the index as text
	index int    // slice index, or -1
	s     *jsonschema.Schema
}

// children returns s's direct subschemas in jsonschema-go's order.
func children(s *jsonschema.Schema) []child {
	var out []child
	v := reflect.ValueOf(s).Elem()
	for i := range schemaFields {
		f := &schemaFields[i]
		fv := v.FieldByIndex(f.index)
		switch fv.Type() {
		case schemaPtrType:
			if c := fv.Interface().(*jsonschema.Schema); c != nil {
				out = append(out, child{field: f, index: -1, s: c})
			}
		case schemaSliceType:
			for j, c := range fv.Interface().([]*jsonschema.Schema) {
				if c != nil {
					out = append(out, child{field: f, key: strconv.Itoa(j), index: j, s: c})
				}
			}
		case schemaMapType:
			m := fv.Interface().(map[string]*jsonschema.Schema)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if m[k] != nil {
					out = append(out, child{field: f, key: k, index: -1, s: m[k]})
				}
			}
		}
	}
	return out
}

// buildGraph makes the graph of a schema jsonschema-go has resolved. A
// reference it cannot follow as jsonschema-go did is an error: the work of
// checking against the schema could then not be bounded.
func buildGraph(rs *jsonschema.Resolved) (*graph, error) {
	root := rs.Schema()
	g := &graph{nodes: map[*jsonschema.Schema]*node{}}
	draft7 := root.Schema == "http://json-schema.org/draft-07/schema#" || root.Schema == "https://json-schema.org/draft-07/schema#"

	// Nodes, pointers, base URIs and anchors, as jsonschema-go's
	// resolveURIs assigns them.
	uris := map[string]*node{}
	baseURI := map[*node]*url.URL{}
	anchors := map[*node]map[string][]*node{} // per base; all candidates
	dynamic := map[string][]*node{}           // every $dynamicAnchor by name
	addAnchor := func(base *node, name string, n *node) {
		if name == "" {
			return
		}
		if anchors[base] == nil {
			anchors[base] = map[string][]*node{}
		}
		anchors[base][name] = append(anchors[base][name], n)
	}
	type item struct {
		s    *jsonschema.Schema
		ptr  string
		base *node
	}
	stack := []item{{s: root}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := &node{s: it.s, ptr: it.ptr, cost: costOf(it.s)}
		g.nodes[it.s] = n
		g.all = append(g.all, n)
		base := it.base
		if base == nil { // the root
			base = n
			baseURI[n] = &url.URL{}
			uris[""] = n
		}
		if id := it.s.ID; id != "" && !(draft7 && it.s.Ref != "") {
			idURI, err := url.Parse(id)
			if err != nil {
				return nil, err
			}
			if draft7 && idURI.Fragment != "" {
				addAnchor(base, strings.TrimPrefix(id, "#"), n)
			} else {
				u := baseURI[base].ResolveReference(idURI)
				baseURI[n] = u
				uris[u.String()] = n
				base = n
			}
		}
		n.base = base
		if !draft7 {
			addAnchor(base, it.s.Anchor, n)
			addAnchor(base, it.s.DynamicAnchor, n)
			if a := it.s.DynamicAnchor; a != "" {
				dynamic[a] = append(dynamic[a], n)
			}
		}
		kids := children(it.s)
		for i := len(kids) - 1; i >= 0; i-- { // so that they pop in order
			c := kids[i]
			p := it.ptr + "/" + c.field.name
			if c.key != "" || c.index >= 0 {
				p += "/" + escapePointer(c.key)
			}
			stack = append(stack, item{s: c.s, ptr: p, base: base})
		}
	}
	g.root = g.nodes[root]

	resolve := func(n *node, ref string) ([]*node, error) {
		refURI, err := url.Parse(ref)
		if err != nil {
			return nil, err
		}
		refURI = baseURI[n.base].ResolveReference(refURI)
		u := *refURI
		u.Fragment = ""
		doc := uris[u.String()]
		if doc == nil {
			return nil, &unresolvedError{ptr: n.ptr, ref: ref}
		}
		frag := refURI.Fragment
		if frag != "" && !strings.HasPrefix(frag, "/") {
			found := anchors[doc][frag]
			if len(found) == 0 {
				return nil, &unresolvedError{ptr: n.ptr, ref: ref}
			}
			return found, nil
		}
		t, ok := g.dereference(doc, frag)
		if !ok {
			return nil, &unresolvedError{ptr: n.ptr, ref: ref}
		}
		return []*node{t}, nil
	}

	// Edges.
	for _, n := range g.all {
		s := n.s
		if s.Ref != "" {
			ts, err := resolve(n, s.Ref)
			if err != nil {
				return nil, err
			}
			n.inPlace = append(n.inPlace, ts...)
		}
		if s.DynamicRef != "" {
			ts, err := resolve(n, s.DynamicRef)
			if err != nil {
				return nil, err
			}
			n.inPlace = append(n.inPlace, ts...)
			if u, err := url.Parse(s.DynamicRef); err == nil && u.Fragment != "" && !strings.HasPrefix(u.Fragment, "/") {
				// It may act dynamically: any schema with that dynamic
				// anchor may be the one it reaches.
				n.inPlace = append(n.inPlace, dynamic[u.Fragment]...)
			}
		}
		for _, c := range children(s) {
			cn := g.nodes[c.s]
			switch c.field.kind {
			case edgeInPlace:
				if c.field.name == "anyOf" {
					n.inPlace = slices.Insert(n.inPlace, n.nAnyOf, cn)
					n.nAnyOf++
					break
				}
				n.inPlace = append(n.inPlace, cn)
			case edgeProp:
				if n.props == nil {
					n.props = map[string]*node{}
				}
				n.props[c.key] = cn
			case edgePrefix:
				for len(n.prefix) <= c.index {
					n.prefix = append(n.prefix, nil)
				}
				n.prefix[c.index] = cn
			case edgeEach:
				n.each = append(n.each, cn)
			case edgeKeys:
				n.keys = append(n.keys, cn)
			case edgeUnknown:
				n.inPlace = append(n.inPlace, cn)
				n.each = append(n.each, cn)
			}
		}
	}
	return g, nil
}

// dereference follows a JSON Pointer from doc as jsonschema-go does.
func (g *graph) dereference(doc *node, ptr string) (*node, bool) {
	if ptr == "" {
		return doc, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	segs := strings.Split(ptr[1:], "/")
	cur := reflect.ValueOf(doc.s)
	for _, seg := range segs {
		if strings.Contains(ptr, "~") {
			seg = unescapePointer(seg)
		}
		switch cur.Kind() {
		case reflect.Pointer:
			if cur.IsNil() || cur.Type() != schemaPtrType {
				return nil, false
			}
			cur = fieldNamed(cur.Elem(), seg)
			if !cur.IsValid() {
				return nil, false
			}
		case reflect.Slice:
			if len(seg) > 1 && seg[0] == '0' {
				return nil, false
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= cur.Len() {
				return nil, false
			}
			cur = cur.Index(i)
		case reflect.Map:
			cur = cur.MapIndex(reflect.ValueOf(seg))
			if !cur.IsValid() {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	s, ok := cur.Interface().(*jsonschema.Schema)
	if !ok || s == nil {
		return nil, false
	}
	n, ok := g.nodes[s]
	return n, ok
}

// fieldNamed is the field of a Schema a pointer segment names, as
// jsonschema-go's lookupSchemaField finds it; only schema-valued fields
// matter here, since a reference must end at a schema.
func fieldNamed(v reflect.Value, name string) reflect.Value {
	switch name {
	case "items":
		if items := v.FieldByName("Items"); !items.IsNil() {
			return items
		}
		return v.FieldByName("ItemsArray")
	case "dependencies":
		return v.FieldByName("DependencySchemas")
	}
	for _, f := range schemaFields {
		if f.name == name {
			return v.FieldByIndex(f.index)
		}
	}
	return reflect.Value{}
}

// nodeCost is what applying a schema's own keywords to a value costs,
// beyond visitCost, in the units of [Budget] (about 10ns each).
type nodeCost struct {
	own        uint64 // enum and const, compared and printed
	value      bool   // type, enum, const or uniqueItems: the value is compared, hashed or printed
	str        uint64 // per byte of a string value: minLength, maxLength, pattern
	memberName uint64 // per byte of member names: patternProperties
}

func costOf(s *jsonschema.Schema) nodeCost {
	c := nodeCost{value: s.Type != "" || s.Types != nil || s.Enum != nil || s.Const != nil || s.UniqueItems}
	if s.Enum != nil {
		if b, err := json.Marshal(s.Enum); err == nil {
			c.own += uint64(len(b))
		}
	}
	if s.Const != nil {
		if b, err := json.Marshal(*s.Const); err == nil {
			c.own += uint64(len(b))
		}
	}
	if s.MinLength != nil || s.MaxLength != nil {
		c.str++
	}
	if s.Pattern != "" {
		c.str += regexpCost(s.Pattern)
	}
	for p := range s.PatternProperties {
		c.memberName += regexpCost(p)
	}
	return c
}

// regexpCost is the cost of matching a pattern, per byte matched: Go's
// regexp runs in time linear in the input and, at worst, in the pattern.
func regexpCost(pattern string) uint64 { return 8 + uint64(len(pattern))/32 }

// unresolvedError is a reference this package cannot follow the way
// jsonschema-go did.
type unresolvedError struct{ ptr, ref string }

func (e *unresolvedError) Error() string {
	return "cannot follow " + strconv.Quote(e.ref) + " at " + pointerName(e.ptr)
}

// pointerName is how messages name a subschema: "#/$defs/a", "#" for the root.
func pointerName(ptr string) string { return "#" + ptr }
