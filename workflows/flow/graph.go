package flow

import (
	"fmt"
	"io"
	"strings"
)

// Graph is a flow's data-flow graph: which step's data reaches which step,
// through which fields, across which servers. People read this better than
// YAML; Mermaid and DOT render it.
type Graph struct {
	Name  string
	Nodes []*GraphNode
	Edges []*GraphEdge
	// Servers lists every server called, in order of first use.
	Servers []string
	// SubFlows are the clusters of uses steps' sub-flows (graph_uses.go).
	SubFlows []*GraphSubFlow
}

// NodeKind says what a graph node stands for.
type NodeKind int

const (
	NodeInputs   NodeKind = iota // the flow's inputs
	NodeCall                     // a step that calls a tool
	NodeGroup                    // a step grouping nested steps
	NodeParallel                 // a step running parallel branches
	NodeOutputs                  // the flow's outputs
)

// GraphNode is a step, or the flow's inputs or outputs.
type GraphNode struct {
	// ID is unique in the graph: the step's path, or "inputs"/"outputs".
	ID     string
	Kind   NodeKind
	Step   *Step  // nil for inputs and outputs
	Server string // for NodeCall
	Tool   string // for NodeCall
	// Parent is the ID of the group or parallel node containing the step.
	Parent string
	// Branch is the parallel branch holding the step, if any.
	Branch string
	// Notes are short annotations: "for each", "if", "retry ×3", ...
	Notes []string
	// Flow is the ID of the uses step whose sub-flow holds the node, or
	// "" for the flow's own.
	Flow string
	// Finally is set for the flow's finally steps, drawn in a lane of
	// their own after the steps.
	Finally bool
}

// EdgeKind says why an edge exists.
type EdgeKind int

const (
	EdgeData     EdgeKind = iota // data moves along the edge
	EdgeNeeds                    // explicit needs:, no data
	EdgeContains                 // a group contains a step
)

// FieldFlow is one field moving along an edge: From is the path read from
// the source (empty when it is read whole), To is the argument, or "if",
// "for_each", "idempotency_key", or an output name, that receives it.
type FieldFlow struct {
	From, To string
}

func (ff FieldFlow) String() string {
	if ff.From == "" {
		return ff.To
	}
	return ff.From + " → " + ff.To
}

// GraphEdge connects two nodes by ID.
type GraphEdge struct {
	From, To string
	Kind     EdgeKind
	Fields   []FieldFlow
	// FromServers are the servers whose results the source holds (one for
	// a call, those called inside for a group); ToServer is the server
	// the target calls. Both are set only for data flowing into a call.
	FromServers []string
	ToServer    string
}

// CrossServer reports whether the edge moves data between servers.
func (e *GraphEdge) CrossServer() bool {
	for _, s := range e.FromServers {
		if s != e.ToServer {
			return true
		}
	}
	return false
}

// BuildGraph computes the data-flow graph of f. Unknown references (which
// Validate reports) are left out.
func BuildGraph(f *Flow) *Graph {
	g := &Graph{Name: f.Name}
	idx := newStepIndex(f)
	byID := map[string]*Step{}
	nodes := map[string]*GraphNode{}
	if len(f.Inputs) > 0 {
		n := &GraphNode{ID: "inputs", Kind: NodeInputs}
		g.Nodes = append(g.Nodes, n)
		nodes[n.ID] = n
	}
	seenServer := map[string]bool{}
	for _, s := range f.AllSteps() {
		byID[s.ID] = s
		n := &GraphNode{ID: s.Path, Step: s, Branch: s.branch, Finally: s.finally}
		if s.Parent != nil {
			n.Parent = s.Parent.Path
		}
		switch {
		case s.Call != nil, s.Read != nil:
			// A read is drawn as a call of its server's resources/read.
			n.Kind, n.Server = NodeCall, s.Server()
			if s.Call != nil {
				n.Tool = s.Call.Tool
			} else {
				n.Tool = "resources/read"
			}
			if !seenServer[n.Server] {
				seenServer[n.Server] = true
				g.Servers = append(g.Servers, n.Server)
			}
		case s.Parallel != nil:
			n.Kind = NodeParallel
		default:
			n.Kind = NodeGroup
		}
		n.Notes = stepNotes(f, s)
		g.Nodes = append(g.Nodes, n)
		nodes[n.ID] = n
	}
	if len(f.Outputs) > 0 {
		n := &GraphNode{ID: "outputs", Kind: NodeOutputs}
		g.Nodes = append(g.Nodes, n)
		nodes[n.ID] = n
	}

	edges := map[[2]string]*GraphEdge{}
	edge := func(from, to string, kind EdgeKind) *GraphEdge {
		key := [2]string{from, to}
		if e, ok := edges[key]; ok {
			if kind == EdgeData {
				e.Kind = EdgeData
			}
			return e
		}
		e := &GraphEdge{From: from, To: to, Kind: kind}
		edges[key] = e
		g.Edges = append(g.Edges, e)
		return e
	}
	addField := func(e *GraphEdge, ff FieldFlow) {
		for _, x := range e.Fields {
			if x == ff {
				return
			}
		}
		e.Fields = append(e.Fields, ff)
	}
	// flowInto records the data an expression of `to` reads.
	flowInto := func(to, toServer string, s *Step, e *Expr, ownForEach bool, dst string, depth int) {
		for _, p := range e.Paths {
			switch p[0] {
			case "inputs":
				if n, ok := nodes["inputs"]; ok {
					src := ""
					if len(p) > 1 {
						src = strings.Join(p[1:], ".")
					}
					addField(edge(n.ID, to, EdgeData), FieldFlow{From: src, To: dst})
				}
			case "steps":
				t, ok := byID[p[1]]
				if !ok || t.Path == to {
					continue
				}
				ed := edge(t.Path, to, EdgeData)
				addField(ed, FieldFlow{From: resultField(p[2:]), To: dst})
				if toServer != "" {
					ed.FromServers, ed.ToServer = idx.stepServers(t), toServer
				}
			case "item", "index":
				if s == nil || depth > 64 {
					continue
				}
				x := s
				if ownForEach {
					x = s.Parent
				}
				for ; x != nil && x.ForEach == nil; x = x.Parent {
				}
				if x == nil {
					continue
				}
				// The item comes from whatever the binding for_each reads;
				// name the field read from the item.
				field := strings.Join(p[1:], ".")
				if p[0] == "index" {
					field = "index"
				}
				sub := dst
				if field != "" {
					sub = field + " → " + dst
				}
				flowIntoItem(idx, nodes, byID, edge, addField, to, toServer, x, field, dst, sub)
			}
		}
	}
	for _, s := range f.AllSteps() {
		server := s.Server()
		for _, r := range stepExprs(s) {
			flowInto(s.Path, server, s, r.e, r.ownForEach, r.arg, 0)
		}
		for _, id := range s.Needs {
			if t, ok := byID[id]; ok && t != s {
				edge(t.Path, s.Path, EdgeNeeds)
			}
		}
		if s.Parent != nil {
			edge(s.Parent.Path, s.Path, EdgeContains)
		}
	}
	for _, name := range f.OutputOrder {
		valueExprs(f.Outputs[name], name, func(_ string, e *Expr) {
			flowInto("outputs", "", nil, e, false, name, 0)
		})
	}
	embedUses(g, f)
	return g
}

// flowIntoItem adds the edges for data read through .item: from each
// source of the binding for_each, labelled with the item field read.
func flowIntoItem(idx *stepIndex, nodes map[string]*GraphNode, byID map[string]*Step,
	edge func(string, string, EdgeKind) *GraphEdge, addField func(*GraphEdge, FieldFlow),
	to, toServer string, binder *Step, field, dst, _ string) {
	fe := binder.ForEach
	for _, p := range fe.Paths {
		switch p[0] {
		case "inputs":
			if n, ok := nodes["inputs"]; ok {
				src := strings.Join(p[1:], ".")
				if field != "" {
					src += "[]." + field
				}
				addField(edge(n.ID, to, EdgeData), FieldFlow{From: src, To: dst})
			}
		case "steps":
			t, ok := byID[p[1]]
			if !ok || t.Path == to {
				continue
			}
			ed := edge(t.Path, to, EdgeData)
			src := field
			if src == "" {
				src = resultField(p[2:])
			}
			addField(ed, FieldFlow{From: src, To: dst})
			if toServer != "" {
				ed.FromServers, ed.ToServer = idx.stepServers(t), toServer
			}
		case "item", "index":
			// Nested for_each over an outer item: follow it outwards.
			for x := binder.Parent; x != nil; x = x.Parent {
				if x.ForEach != nil {
					flowIntoItem(idx, nodes, byID, edge, addField, to, toServer, x, field, dst, "")
					break
				}
			}
		}
	}
}

// resultField names what a .steps.<id>... path reads past the step, for
// labels: .result.location → "location", .items → "items".
func resultField(rest []string) string {
	if len(rest) == 0 {
		return ""
	}
	if rest[0] == "result" {
		rest = rest[1:]
	}
	return strings.Join(rest, ".")
}

func stepNotes(f *Flow, s *Step) []string {
	var notes []string
	if s.ForEach != nil {
		n := "for each"
		if s.MaxConcurrency > 0 {
			n += fmt.Sprintf(" ≤%d", s.MaxConcurrency)
		}
		notes = append(notes, n)
	}
	if s.If != nil {
		notes = append(notes, "if")
	}
	if s.Call != nil {
		if r := f.EffectiveRetry(s); r.MaxAttempts > 1 {
			notes = append(notes, fmt.Sprintf("retry ×%d", r.MaxAttempts))
		}
		if s.IdempotencyKey != nil {
			notes = append(notes, "idempotency key")
		}
	}
	notes = append(notes, toleranceNote(s)...)
	notes = append(notes, pollNote(s)...)
	switch s.OnError {
	case "", "fail":
	case "continue":
		notes = append(notes, "on error continue")
	default:
		notes = append(notes, "on error → "+s.OnError)
	}
	return notes
}

// maxLabelFields keeps edge labels readable; the rest are counted.
const maxLabelFields = 4

// controlField reports whether a destination is evaluated by mediator to
// decide what runs (for_each, if) rather than sent anywhere.
func controlField(to string) bool { return to == "for_each" || to == "if" }

// label summarises the fields on an edge, one part per destination
// ("location, date → idempotency_key"). Control inputs (for_each, if) are
// named only when nothing else moves.
func (e *GraphEdge) label(sep string) string {
	var order []string
	srcs := map[string][]string{}
	var control []string
	for _, ff := range e.Fields {
		if controlField(ff.To) {
			if !contains(control, ff.To) {
				control = append(control, ff.To)
			}
			continue
		}
		if _, ok := srcs[ff.To]; !ok {
			order = append(order, ff.To)
		}
		if ff.From != "" && !contains(srcs[ff.To], ff.From) {
			srcs[ff.To] = append(srcs[ff.To], ff.From)
		}
	}
	if len(order) == 0 {
		return strings.Join(control, ", ")
	}
	var parts []string
	for i, to := range order {
		if i == maxLabelFields {
			parts = append(parts, fmt.Sprintf("+%d more", len(order)-i))
			break
		}
		if len(srcs[to]) == 0 {
			parts = append(parts, to)
			continue
		}
		parts = append(parts, strings.Join(srcs[to], ", ")+" → "+to)
	}
	return strings.Join(parts, sep)
}

// mermaidID avoids Mermaid keywords (a step called "end" breaks a
// flowchart) and characters Mermaid reads as syntax.
func mermaidID(id string) string {
	r := strings.NewReplacer("/", "__", "-", "_", ".", "_")
	return "n_" + r.Replace(id)
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

// WriteMermaid renders g as a Mermaid flowchart: calls are boxes grouped by
// server, groups are hexagons, and edges that carry data from one server
// into another are drawn thick.
func (g *Graph) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	if g.Name != "" {
		fmt.Fprintf(&b, "  %%%% %s\n", g.Name)
	}
	nodeLine := func(n *GraphNode) string {
		id := mermaidID(n.ID)
		switch n.Kind {
		case NodeInputs:
			return id + `(["inputs"])`
		case NodeOutputs:
			return id + `(["outputs"])`
		case NodeCall:
			tool := n.Tool
			if n.Flow != "" {
				tool = callLabelInSubFlow(n)
			}
			label := "<b>" + mermaidText(n.Step.ID) + "</b><br/>" + mermaidText(tool)
			if len(n.Notes) > 0 {
				label += "<br/><i>" + mermaidText(strings.Join(n.Notes, " · ")) + "</i>"
			}
			return id + `["` + label + `"]`
		default:
			label := "<b>" + mermaidText(n.Step.ID) + "</b>"
			if n.Kind == NodeParallel {
				label += "<br/>parallel"
			}
			if len(n.Notes) > 0 {
				label += "<br/><i>" + mermaidText(strings.Join(n.Notes, " · ")) + "</i>"
			}
			return id + `{{"` + label + `"}}`
		}
	}
	lane := func(indent string, finally bool) {
		for _, n := range g.Nodes {
			if n.Kind != NodeCall && n.Finally == finally && n.Flow == "" {
				b.WriteString(indent + nodeLine(n) + "\n")
			}
		}
		for i, srv := range g.Servers {
			calls := g.laneCalls(srv, finally)
			if len(calls) == 0 {
				continue
			}
			id := fmt.Sprintf("srv%d", i)
			if finally {
				id = "finally_" + id
			}
			fmt.Fprintf(&b, "%ssubgraph %s [\"server: %s\"]\n", indent, id, mermaidText(srv))
			for _, n := range calls {
				b.WriteString(indent + "  " + nodeLine(n) + "\n")
			}
			b.WriteString(indent + "end\n")
		}
	}
	lane("  ", false)
	if g.hasFinally() {
		b.WriteString("  subgraph finally [\"" + finallyLaneLabel + "\"]\n")
		lane("    ", true)
		b.WriteString("  end\n")
	}
	g.writeSubFlows(&b, "", "  ", func(i int, sf *GraphSubFlow) string {
		return fmt.Sprintf("subgraph sub%d [\"%s\"]", i, mermaidText(subFlowTitle(sf)))
	}, "end", nodeLine)
	for _, e := range g.Edges {
		from, to := mermaidID(e.From), mermaidID(e.To)
		label := mermaidText(e.label(", "))
		switch {
		case e.Kind == EdgeContains:
			fmt.Fprintf(&b, "  %s -.- %s\n", from, to)
		case e.Kind == EdgeNeeds:
			fmt.Fprintf(&b, "  %s -. needs .-> %s\n", from, to)
		case e.CrossServer():
			fmt.Fprintf(&b, "  %s == \"%s\" ==> %s\n", from, label, to)
		case label == "":
			fmt.Fprintf(&b, "  %s --> %s\n", from, to)
		default:
			fmt.Fprintf(&b, "  %s -- \"%s\" --> %s\n", from, label, to)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// WriteDOT renders g in Graphviz DOT: calls clustered by server, groups as
// hexagons, cross-server edges bold and labelled with the servers.
func (g *Graph) WriteDOT(w io.Writer) error {
	var b strings.Builder
	name := g.Name
	if name == "" {
		name = "flow"
	}
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(name))
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	nodeLine := func(n *GraphNode) string {
		switch n.Kind {
		case NodeInputs, NodeOutputs:
			return fmt.Sprintf("%s [shape=oval, label=%s];", dotQuote(n.ID), dotQuote(n.ID))
		case NodeCall:
			tool := n.Tool
			if n.Flow != "" {
				tool = callLabelInSubFlow(n)
			}
			label := n.Step.ID + "\n" + tool
			if len(n.Notes) > 0 {
				label += "\n" + strings.Join(n.Notes, " · ")
			}
			return fmt.Sprintf("%s [label=%s];", dotQuote(n.ID), dotQuote(label))
		default:
			label := n.Step.ID
			if n.Kind == NodeParallel {
				label += "\nparallel"
			}
			if len(n.Notes) > 0 {
				label += "\n" + strings.Join(n.Notes, " · ")
			}
			return fmt.Sprintf("%s [shape=hexagon, style=\"\", label=%s];", dotQuote(n.ID), dotQuote(label))
		}
	}
	lane := func(indent string, finally bool) {
		for _, n := range g.Nodes {
			if n.Kind != NodeCall && n.Finally == finally && n.Flow == "" {
				b.WriteString(indent + nodeLine(n) + "\n")
			}
		}
		for i, srv := range g.Servers {
			calls := g.laneCalls(srv, finally)
			if len(calls) == 0 {
				continue
			}
			id := fmt.Sprintf("cluster_%d", i)
			if finally {
				id = "cluster_finally_" + fmt.Sprint(i)
			}
			fmt.Fprintf(&b, "%ssubgraph %s {\n%s  label=%s;\n%s  style=dashed;\n", indent, id, indent, dotQuote("server: "+srv), indent)
			for _, n := range calls {
				b.WriteString(indent + "  " + nodeLine(n) + "\n")
			}
			b.WriteString(indent + "}\n")
		}
	}
	lane("  ", false)
	if g.hasFinally() {
		fmt.Fprintf(&b, "  subgraph cluster_finally {\n    label=%s;\n    style=bold;\n", dotQuote(finallyLaneLabel))
		lane("    ", true)
		b.WriteString("  }\n")
	}
	g.writeSubFlows(&b, "", "  ", func(i int, sf *GraphSubFlow) string {
		return fmt.Sprintf("subgraph cluster_sub%d {\n    label=%s;\n    style=rounded;", i, dotQuote(subFlowTitle(sf)))
	}, "}", nodeLine)
	for _, e := range g.Edges {
		var attrs []string
		switch {
		case e.Kind == EdgeContains:
			attrs = append(attrs, "style=dotted", "arrowhead=none")
		case e.Kind == EdgeNeeds:
			attrs = append(attrs, "style=dashed", `label="needs"`)
		default:
			label := e.label("\n")
			if e.CrossServer() {
				attrs = append(attrs, "penwidth=2")
				label = strings.Join(e.FromServers, ", ") + " → " + e.ToServer + "\n" + label
			}
			if label != "" {
				attrs = append(attrs, "label="+dotQuote(label))
			}
		}
		fmt.Fprintf(&b, "  %s -> %s", dotQuote(e.From), dotQuote(e.To))
		if len(attrs) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
