package flow

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// SVGOptions colour a drawn graph by a run's state. The zero value draws
// the flow alone, as `mediator graph --format svg` does.
type SVGOptions struct {
	// Status is each node's status by node ID (a step's path): succeeded,
	// failed, running, skipped, interrupted, cancelled or pending. When
	// Status is non-nil a step missing from it is pending; any other
	// value is drawn as pending is, and named as it is.
	Status map[string]string
	// Items are the item counts of for_each steps, by node ID.
	Items map[string]ItemCounts
	// Detail is one short extra line per node (a duration, an error
	// class), by node ID.
	Detail map[string]string
	// Href, when set, links a step's node to what it returns (nothing
	// for ""), which also makes the node reachable by keyboard.
	Href func(nodeID string) string
	// IDPrefix prefixes the SVG's element IDs, so that several graphs can
	// be inlined in one page; "flowgraph-" when empty.
	IDPrefix string
}

// ItemCounts counts a for_each step's items by status.
type ItemCounts map[string]int

// Step statuses as a drawn graph knows them, in the legend's order.
var svgStatuses = []string{"succeeded", "failed", "running", "interrupted", "cancelled", "skipped", "pending"}

// svgLook is how a status is drawn: colours with a contrast of at least
// 4.5:1 for the text on the fill, and a glyph and border pattern so that
// colour is not the only signal.
type svgLook struct {
	fill, stroke, dash, glyph string
	width                     string
}

func svgStatusLook(status string) svgLook {
	switch status {
	case "succeeded":
		return svgLook{fill: "#dcf3e2", stroke: "#1a7f37", width: "2", glyph: "✓"}
	case "failed":
		return svgLook{fill: "#ffe1e1", stroke: "#b3261e", width: "3", glyph: "✗"}
	case "running":
		return svgLook{fill: "#dcecff", stroke: "#0b5cad", width: "2", dash: "6 3", glyph: "▶"}
	case "interrupted":
		return svgLook{fill: "#fff0bf", stroke: "#7a5600", width: "3", dash: "10 3 2 3", glyph: "‖"}
	case "cancelled":
		return svgLook{fill: "#ece3f7", stroke: "#5e3d99", width: "2", dash: "2 2", glyph: "⊘"}
	case "skipped":
		return svgLook{fill: "#eeeff1", stroke: "#59636e", width: "1.5", dash: "2 3", glyph: "↷"}
	case "":
		return svgLook{fill: "#ffffff", stroke: "#59636e", width: "1.5"}
	default: // pending, and any status this drawing does not know
		return svgLook{fill: "#ffffff", stroke: "#6e7781", width: "1.5", dash: "4 4", glyph: "○"}
	}
}

// svgStatusClass is a status as a class name: only known statuses, so a
// hostile status never reaches an attribute unescaped or a style rule.
func svgStatusClass(status string) string {
	for _, s := range svgStatuses {
		if s == status {
			return "status-" + s
		}
	}
	return "status-other"
}

// Geometry, in px. Text widths are estimated (no font metrics): labels
// longer than their room are cut with "…" and given whole in a <title>.
const (
	svgMargin     = 16
	svgLanePad    = 12
	svgLaneHeader = 26
	svgNodeW      = 190
	svgColGap     = 150
	svgRowGap     = 14
	svgLine       = 16
	svgNodeChars  = 24 // characters fitting a node's width
	svgLabelChars = 22 // characters fitting between two columns
	svgCharW      = 7
)

// svgLane is a band of the drawing: a server's calls, the flow's other
// nodes, or a sub-flow's nodes.
type svgLane struct {
	title, kind string
	nodes       []*GraphNode
	y, h, slots int
}

// svgLanes are g's lanes in the order the Mermaid writer draws its
// clusters: the flow's non-call nodes, one lane per server, the finally
// steps' lanes (from finallyAt to subAt), then each sub-flow's (from
// subAt).
func (g *Graph) svgLanes() (lanes []*svgLane, finallyAt, subAt int) {
	add := func(title, kind string, nodes []*GraphNode) {
		if len(nodes) > 0 {
			lanes = append(lanes, &svgLane{title: title, kind: kind, nodes: nodes})
		}
	}
	part := func(finally bool) {
		var other []*GraphNode
		for _, n := range g.Nodes {
			if n.Kind != NodeCall && n.Finally == finally && n.Flow == "" {
				other = append(other, n)
			}
		}
		add("steps without a server", "flow", other)
		for _, srv := range g.Servers {
			add("server: "+srv, "server", g.laneCalls(srv, finally))
		}
	}
	part(false)
	finallyAt = -1
	if g.hasFinally() {
		finallyAt = len(lanes)
		part(true)
	}
	subAt = len(lanes)
	var sub func(parent string)
	sub = func(parent string) {
		for _, sf := range g.SubFlows {
			if sf.Parent != parent {
				continue
			}
			var nodes []*GraphNode
			for _, n := range g.Nodes {
				if n.Flow == sf.ID {
					nodes = append(nodes, n)
				}
			}
			add(subFlowTitle(sf)+", used by step "+sf.ID, "sub-flow", nodes)
			sub(sf.ID)
		}
	}
	sub("")
	return lanes, finallyAt, subAt
}

// svgColumns places each node one column right of the furthest node it
// depends on (data, needs, the group holding it, the uses step holding
// its sub-flow). Edges closing a cycle (a flow that does not validate)
// are ignored.
func (g *Graph) svgColumns() map[string]int {
	preds := map[string][]string{}
	for _, e := range g.Edges {
		preds[e.To] = append(preds[e.To], e.From)
	}
	for _, n := range g.Nodes {
		if n.Flow != "" {
			preds[n.ID] = append(preds[n.ID], n.Flow)
		}
	}
	col := map[string]int{}
	const visiting, done = 1, 2
	state := map[string]int{}
	var visit func(id string) int
	visit = func(id string) int {
		if state[id] == done {
			return col[id]
		}
		state[id] = visiting
		c := 0
		for _, p := range preds[id] {
			if state[p] == visiting {
				continue
			}
			c = max(c, visit(p)+1)
		}
		state[id], col[id] = done, c
		return c
	}
	for _, n := range g.Nodes {
		visit(n.ID)
	}
	return col
}

// svgCut shortens s to n characters, ending in "…" when cut.
func svgCut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// svgEsc escapes s for XML text and attribute values; characters XML
// cannot hold become U+FFFD.
func svgEsc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// itemSummary is a for_each step's counts, short (glyphs) for the node
// and long (words) for its title.
func itemSummary(c ItemCounts) (short, long string) {
	total := 0
	var keys []string
	for k, v := range c {
		total += v
		if v > 0 {
			keys = append(keys, k)
		}
	}
	rank := func(s string) int {
		for i, x := range svgStatuses {
			if x == s {
				return i
			}
		}
		return len(svgStatuses)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	word := "items"
	if total == 1 {
		word = "item"
	}
	short, long = fmt.Sprintf("%d %s:", total, word), fmt.Sprintf("%d %s:", total, word)
	for i, k := range keys {
		g := svgStatusLook(k).glyph
		if rank(k) == len(svgStatuses) {
			g = k
		}
		short += fmt.Sprintf(" %d %s", c[k], g)
		if i > 0 {
			long += ","
		}
		long += fmt.Sprintf(" %d %s", c[k], k)
	}
	return short, long
}

// WriteSVG renders g as a standalone SVG element that can also be inlined
// in HTML: lanes per server as the Mermaid writer's clusters, one node per
// step (a <g class="step" data-step="ID" data-status="...">), data edges
// labelled with the fields they carry (thick across servers), and a
// legend. It uses presentation attributes only (no <style>, no script, no
// fonts to fetch), so a strict Content-Security-Policy allows it. Every
// text from the flow is escaped; the output depends only on g and opts.
func (g *Graph) WriteSVG(w io.Writer, opts SVGOptions) error {
	prefix := opts.IDPrefix
	if prefix == "" {
		prefix = "flowgraph-"
	}
	lanes, finallyAt, subAt := g.svgLanes()
	cols := g.svgColumns()

	// Node height: the same for all, with room for every kind of line
	// some node has.
	lines := 2
	for _, n := range g.Nodes {
		if len(n.Notes) > 0 {
			lines++
			break
		}
	}
	if opts.Status != nil || len(opts.Detail) > 0 {
		lines++
	}
	if len(opts.Items) > 0 {
		lines++
	}
	nodeH := 10 + lines*svgLine

	// Lanes top to bottom; slots stack the nodes sharing a lane and column.
	type pos struct{ x, y int }
	at := map[string]pos{}
	maxCol := 0
	y := svgMargin
	finallyTop, finallyBottom := 0, 0
	for i, l := range lanes {
		if i == finallyAt {
			finallyTop = y
			y += svgLaneHeader + 4
		}
		if i == subAt && finallyAt >= 0 {
			finallyBottom = y
			y += 12
		}
		l.y = y
		used := map[int]int{}
		for _, n := range l.nodes {
			c := cols[n.ID]
			maxCol = max(maxCol, c)
			slot := used[c]
			used[c]++
			l.slots = max(l.slots, used[c])
			at[n.ID] = pos{
				x: svgMargin + svgLanePad + c*(svgNodeW+svgColGap),
				y: l.y + svgLaneHeader + slot*(nodeH+svgRowGap),
			}
		}
		l.h = svgLaneHeader + l.slots*nodeH + (l.slots-1)*svgRowGap + svgLanePad
		y += l.h + 8
	}
	if finallyAt >= 0 && subAt == len(lanes) {
		finallyBottom = y
	}
	width := svgMargin*2 + svgLanePad*2 + (maxCol+1)*svgNodeW + maxCol*svgColGap

	// The legend: statuses when coloured, then edge kinds; wrapped.
	type legendItem struct{ kind, text string }
	var legend []legendItem
	if opts.Status != nil {
		for _, s := range svgStatuses {
			legend = append(legend, legendItem{"status", s})
		}
	}
	legend = append(legend, legendItem{"data", "data"}, legendItem{"cross", "data between servers"},
		legendItem{"needs", "needs (order only)"}, legendItem{"contains", "contains"})
	itemW := func(it legendItem) int {
		w := 34 + utf8.RuneCountInString(it.text)*svgCharW + 16
		if it.kind == "status" {
			w += 2 * svgCharW // the glyph
		}
		return w
	}
	width = max(width, 480)
	legendY := y + 8
	lx, ly := svgMargin+60, legendY
	type placed struct {
		legendItem
		x, y int
	}
	var legendAt []placed
	for _, it := range legend {
		if lx+itemW(it) > width-svgMargin && lx > svgMargin+60 {
			lx, ly = svgMargin+60, ly+22
		}
		legendAt = append(legendAt, placed{it, lx, ly})
		lx += itemW(it)
	}
	height := ly + 22 + svgMargin

	var b strings.Builder
	steps, counts := 0, map[string]int{}
	for _, n := range g.Nodes {
		if n.Step != nil {
			steps++
			if opts.Status != nil {
				counts[nodeStatus(opts, n)]++
			}
		}
	}
	summary := fmt.Sprintf("Flow graph of %s: %d steps", g.Name, steps)
	if g.Name == "" {
		summary = fmt.Sprintf("Flow graph: %d steps", steps)
	}
	if len(g.Servers) > 0 {
		summary += ", servers " + strings.Join(g.Servers, ", ")
	}
	if opts.Status != nil {
		var parts []string
		for _, s := range svgStatuses {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
				delete(counts, s)
			}
		}
		other := 0
		for _, c := range counts {
			other += c
		}
		if other > 0 {
			parts = append(parts, fmt.Sprintf("%d other", other))
		}
		summary += "; " + strings.Join(parts, ", ")
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" width="%d" height="%d" viewBox="0 0 %d %d" role="group" aria-labelledby="%stitle" font-family="system-ui, sans-serif" font-size="12">`+"\n",
		width, height, width, height, svgEsc(prefix))
	fmt.Fprintf(&b, `<title id="%stitle">%s</title>`+"\n", svgEsc(prefix), svgEsc(summary))
	fmt.Fprintf(&b, `<defs><marker id="%sarrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#3d444d"/></marker></defs>`+"\n", svgEsc(prefix))
	fmt.Fprintf(&b, `<rect class="background" x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)

	// Lanes.
	if finallyAt >= 0 {
		fmt.Fprintf(&b, `<g class="finally"><rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="none" stroke="#3d444d" stroke-width="2" stroke-dasharray="8 4"/><text x="%d" y="%d" font-weight="bold" fill="#1f2328">%s</text></g>`+"\n",
			svgMargin/2, finallyTop-4, width-svgMargin, finallyBottom-finallyTop, svgMargin+4, finallyTop+16, svgEsc(finallyLaneLabel))
	}
	for i, l := range lanes {
		fill := "#f6f8fa"
		if i%2 == 1 {
			fill = "#eef1f4"
		}
		fmt.Fprintf(&b, `<g class="lane lane-%s"><rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="#d1d9e0"/><text x="%d" y="%d" fill="#1f2328">%s</text></g>`+"\n",
			l.kind, svgMargin, l.y, width-2*svgMargin, l.h, fill, svgMargin+8, l.y+17, svgEsc(svgCut(l.title, (width-2*svgMargin-16)/svgCharW)))
	}

	// Edges, under the nodes.
	arrow := fmt.Sprintf(` marker-end="url(#%sarrow)"`, svgEsc(prefix))
	for _, e := range g.Edges {
		from, ok1 := at[e.From]
		to, ok2 := at[e.To]
		if !ok1 || !ok2 {
			continue
		}
		x1, y1 := from.x+svgNodeW, from.y+nodeH/2
		x2, y2 := to.x, to.y+nodeH/2
		dx := max(40, (x2-x1)/2)
		path := fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+dx, y1, x2-dx, y2, x2, y2)
		kind, attrs, label := "data", `stroke="#3d444d" stroke-width="1.5"`+arrow, e.label(", ")
		switch {
		case e.Kind == EdgeContains:
			kind, attrs, label = "contains", `stroke="#8c959f" stroke-width="1.5" stroke-dasharray="2 3"`, ""
		case e.Kind == EdgeNeeds:
			kind, attrs, label = "needs", `stroke="#59636e" stroke-width="1.5" stroke-dasharray="6 4"`+arrow, "needs"
		case e.CrossServer():
			kind, attrs = "cross", `stroke="#1f2328" stroke-width="3.5"`+arrow
		}
		title := e.From + " → " + e.To
		if e.CrossServer() && e.Kind == EdgeData {
			title += " (" + strings.Join(e.FromServers, ", ") + " → " + e.ToServer + ")"
		}
		if label != "" {
			title += ": " + label
		}
		fmt.Fprintf(&b, `<g class="edge edge-%s" data-from="%s" data-to="%s"><title>%s</title><path d="%s" fill="none" %s/>`,
			kind, svgEsc(e.From), svgEsc(e.To), svgEsc(title), path, attrs)
		if label != "" {
			text := svgCut(label, svgLabelChars)
			lw := utf8.RuneCountInString(text)*6 + 8
			mx, my := (x1+x2)/2, (y1+y2)/2
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" rx="3" fill="#ffffff" fill-opacity="0.9"/><text x="%d" y="%d" text-anchor="middle" font-size="11" fill="#1f2328">%s</text>`,
				mx-lw/2, my-11, lw, mx, my+1, svgEsc(text))
		}
		b.WriteString("</g>\n")
	}

	// Nodes.
	for _, n := range g.Nodes {
		p, ok := at[n.ID]
		if !ok {
			continue
		}
		g.writeSVGNode(&b, n, p.x, p.y, nodeH, opts)
	}

	// Legend.
	fmt.Fprintf(&b, `<g class="legend"><text x="%d" y="%d" font-weight="bold" fill="#1f2328">Legend</text>`, svgMargin, legendY+12)
	for _, it := range legendAt {
		switch it.kind {
		case "status":
			lk := svgStatusLook(it.text)
			fmt.Fprintf(&b, `<g class="legend-item %s"><rect x="%d" y="%d" width="26" height="16" rx="3" fill="%s" stroke="%s" stroke-width="%s"%s/><text x="%d" y="%d" fill="#1f2328">%s %s</text></g>`,
				svgStatusClass(it.text), it.x, it.y, lk.fill, lk.stroke, lk.width, dashAttr(lk.dash), it.x+32, it.y+12, lk.glyph, it.text)
		default:
			attrs := map[string]string{
				"data":     `stroke="#3d444d" stroke-width="1.5"` + arrow,
				"cross":    `stroke="#1f2328" stroke-width="3.5"` + arrow,
				"needs":    `stroke="#59636e" stroke-width="1.5" stroke-dasharray="6 4"` + arrow,
				"contains": `stroke="#8c959f" stroke-width="1.5" stroke-dasharray="2 3"`,
			}[it.kind]
			fmt.Fprintf(&b, `<g class="legend-item edge-%s"><path d="M%d,%d h26" fill="none" %s/><text x="%d" y="%d" fill="#1f2328">%s</text></g>`,
				it.kind, it.x, it.y+8, attrs, it.x+32, it.y+12, svgEsc(it.text))
		}
	}
	b.WriteString("</g>\n</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}

// nodeStatus is a step node's status, "" when the drawing has none.
func nodeStatus(opts SVGOptions, n *GraphNode) string {
	if opts.Status == nil || n.Step == nil {
		return ""
	}
	if s, ok := opts.Status[n.ID]; ok && s != "" {
		return s
	}
	return "pending"
}

// writeSVGNode draws one node at x, y: a rounded box for a call, a
// hexagon for a group or parallel step, a pill for inputs and outputs;
// its lines are the step ID, the tool, its notes, its status and its item
// counts, each cut to fit, all whole in its <title>.
func (g *Graph) writeSVGNode(b *strings.Builder, n *GraphNode, x, y, h int, opts SVGOptions) {
	status := nodeStatus(opts, n)
	look := svgStatusLook(status)
	var text []string
	var title []string
	class := "io"
	switch n.Kind {
	case NodeInputs, NodeOutputs:
		text = append(text, n.ID)
		title = append(title, "the flow's "+n.ID)
		if n.Flow != "" {
			title[0] = "the " + strings.TrimPrefix(n.ID, n.Flow+UsesPathSep) + " of the sub-flow of step " + n.Flow
			text[0] = strings.TrimPrefix(n.ID, n.Flow+UsesPathSep)
		}
	case NodeCall:
		class = "step call"
		tool := n.Tool
		if n.Flow != "" {
			tool = callLabelInSubFlow(n)
		}
		text = append(text, n.Step.ID, tool)
		title = append(title, "step "+n.ID, "calls "+n.Server+"."+n.Tool)
	default:
		class = "step group"
		kind := "group"
		if n.Kind == NodeParallel {
			kind = "parallel"
		}
		text = append(text, n.Step.ID, kind)
		title = append(title, "step "+n.ID, kind)
	}
	if len(n.Notes) > 0 {
		notes := strings.Join(n.Notes, " · ")
		text = append(text, notes)
		title = append(title, notes)
	}
	detail := opts.Detail[n.ID]
	if status != "" {
		line := look.glyph + " " + status
		if detail != "" {
			line += " · " + detail
		}
		text = append(text, line)
		title = append(title, "status "+status)
	} else if detail != "" {
		text = append(text, detail)
	}
	if detail != "" {
		title = append(title, detail)
	}
	if c, ok := opts.Items[n.ID]; ok {
		short, long := itemSummary(c)
		text = append(text, short)
		title = append(title, long)
	}

	href := ""
	if opts.Href != nil && n.Step != nil {
		href = opts.Href(n.ID)
	}
	if href != "" {
		fmt.Fprintf(b, `<a href="%s">`, svgEsc(href))
	}
	attrs := fmt.Sprintf(`class="node %s %s"`, class, svgStatusClass(status))
	if status == "" {
		attrs = fmt.Sprintf(`class="node %s"`, class)
	}
	if n.Step != nil {
		attrs += fmt.Sprintf(` data-step="%s"`, svgEsc(n.ID))
		if status != "" {
			attrs += fmt.Sprintf(` data-status="%s"`, svgEsc(status))
		}
	}
	fmt.Fprintf(b, `<g %s role="img"><title>%s</title>`, attrs, svgEsc(strings.Join(title, "; ")))
	stroke := fmt.Sprintf(`fill="%s" stroke="%s" stroke-width="%s"%s`, look.fill, look.stroke, look.width, dashAttr(look.dash))
	switch n.Kind {
	case NodeInputs, NodeOutputs:
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="%d" fill="#eef4ff" stroke="#59636e" stroke-width="1.5"/>`, x, y, svgNodeW, h, min(h/2, 24))
	case NodeCall:
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="6" %s/>`, x, y, svgNodeW, h, stroke)
	default:
		const in = 12
		fmt.Fprintf(b, `<polygon points="%d,%d %d,%d %d,%d %d,%d %d,%d %d,%d" %s/>`,
			x+in, y, x+svgNodeW-in, y, x+svgNodeW, y+h/2, x+svgNodeW-in, y+h, x+in, y+h, x, y+h/2, stroke)
	}
	for i, t := range text {
		weight := ""
		if i == 0 {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(b, `<text x="%d" y="%d"%s fill="#1f2328">%s</text>`, x+14, y+5+(i+1)*svgLine-3, weight, svgEsc(svgCut(t, svgNodeChars)))
	}
	b.WriteString("</g>")
	if href != "" {
		b.WriteString("</a>")
	}
	b.WriteString("\n")
}

// runIndex matches an item's index in a runtime path ("loop[3]").
var runIndex = regexp.MustCompile(`\[[0-9]+\]`)

// StaticPath is a runtime path ("batch[2]/upload", as the engine's events
// and the journal name a call) without its items' indexes: the path the
// flow file gives the step ("batch/upload").
func StaticPath(runtimePath string) string { return runIndex.ReplaceAllString(runtimePath, "") }

// StatusOfRun maps a run's step states by runtime path (as the engine's
// events and the daemon name them: an item "loop[3]", a step inside an
// item "loop[3]/check", a sub-flow's step "sync.uses/add") onto g's node
// IDs: each node's status and each for_each node's item counts, for
// SVGOptions. A node whose runtime paths disagree (its items ended
// differently) takes the most telling: running, failed, interrupted,
// cancelled, succeeded, skipped. Paths of no node are left out.
func (g *Graph) StatusOfRun(steps map[string]string) (status map[string]string, items map[string]ItemCounts) {
	known := map[string]bool{}
	for _, n := range g.Nodes {
		known[n.ID] = true
	}
	rank := map[string]int{"running": 6, "failed": 5, "interrupted": 4, "cancelled": 3, "succeeded": 2, "skipped": 1}
	status, items = map[string]string{}, map[string]ItemCounts{}
	for path, st := range steps {
		if strings.HasSuffix(path, "]") {
			id := StaticPath(path)
			if known[id] {
				if items[id] == nil {
					items[id] = ItemCounts{}
				}
				items[id][st]++
			}
			continue
		}
		id := StaticPath(path)
		if !known[id] {
			continue
		}
		if old, ok := status[id]; !ok || rank[st] > rank[old] || (rank[st] == rank[old] && st < old) {
			status[id] = st
		}
	}
	return status, items
}
