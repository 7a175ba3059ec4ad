package flow

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// GraphSubFlow is the cluster of a uses step's sub-flow: its nodes have
// Flow set to ID, the uses step's node.
type GraphSubFlow struct {
	ID   string
	Path string // as written in uses:
	Name string
	// Parent is the ID of the sub-flow cluster holding this one, or "".
	Parent string
	// Timeout is the sub-flow's own timeout:, 0 for none.
	Timeout time.Duration
}

// embedUses adds the sub-flow of each uses step of f to g: its graph's
// nodes and edges with IDs under the step's path (UsesPathSep), in a
// cluster of their own, and contains edges from the step to its top-level
// steps.
func embedUses(g *Graph, f *Flow) {
	nodes := map[string]*GraphNode{}
	for _, n := range g.Nodes {
		nodes[n.ID] = n
	}
	seen := map[string]bool{}
	for _, s := range g.Servers {
		seen[s] = true
	}
	for _, s := range f.AllSteps() {
		if s.Uses == nil || s.Uses.Flow == nil {
			continue
		}
		if n := nodes[s.Path]; n != nil {
			n.Notes = append(n.Notes, "uses "+s.Uses.Path)
		}
		sg := BuildGraph(s.Uses.Flow)
		prefix := s.Path + UsesPathSep
		under := func(id string) string {
			if id == "" {
				return s.Path
			}
			return prefix + id
		}
		g.SubFlows = append(g.SubFlows, &GraphSubFlow{ID: s.Path, Path: s.Uses.Path, Name: s.Uses.Flow.Name, Timeout: s.Uses.Flow.Timeout})
		for _, sf := range sg.SubFlows {
			g.SubFlows = append(g.SubFlows, &GraphSubFlow{ID: prefix + sf.ID, Path: sf.Path, Name: sf.Name, Parent: under(sf.Parent), Timeout: sf.Timeout})
		}
		for _, n := range sg.Nodes {
			c := *n
			c.ID, c.Flow = prefix+n.ID, under(n.Flow)
			if n.Finally && n.Flow == "" && n.Parent == "" && n.Step != nil {
				// Drawn in the sub-flow's cluster, not a lane of its own.
				c.Notes = append(slices.Clip(n.Notes), "finally")
			}
			if n.Parent != "" {
				c.Parent = prefix + n.Parent
			}
			g.Nodes = append(g.Nodes, &c)
			if n.Flow == "" && n.Parent == "" && n.Step != nil {
				g.Edges = append(g.Edges, &GraphEdge{From: s.Path, To: c.ID, Kind: EdgeContains})
			}
		}
		for _, e := range sg.Edges {
			c := *e
			c.From, c.To = prefix+e.From, prefix+e.To
			g.Edges = append(g.Edges, &c)
		}
		for _, srv := range sg.Servers {
			if !seen[srv] {
				seen[srv] = true
				g.Servers = append(g.Servers, srv)
			}
		}
	}
}

// writeSubFlows writes the clusters of g's sub-flows under parent, each
// with its nodes (line renders one, call or not) and its own sub-flows.
func (g *Graph) writeSubFlows(b io.Writer, parent, indent string, open func(i int, sf *GraphSubFlow) string, end string, line func(*GraphNode) string) {
	for i, sf := range g.SubFlows {
		if sf.Parent != parent {
			continue
		}
		fmt.Fprintf(b, "%s%s\n", indent, open(i, sf))
		for _, n := range g.Nodes {
			if n.Flow == sf.ID {
				fmt.Fprintf(b, "%s  %s\n", indent, line(n))
			}
		}
		g.writeSubFlows(b, sf.ID, indent+"  ", open, end, line)
		fmt.Fprintf(b, "%s%s\n", indent, end)
	}
}

// subFlowTitle is a sub-flow cluster's title.
func subFlowTitle(sf *GraphSubFlow) string {
	t := "sub-flow " + sf.Path + " (" + sf.Name + ")"
	if sf.Timeout > 0 {
		t += ", timeout " + FormatDuration(sf.Timeout)
	}
	return t
}

// callLabelInSubFlow names a call's server too: a sub-flow's calls are
// drawn in its cluster, not their server's.
func callLabelInSubFlow(n *GraphNode) string {
	return n.Server + "." + n.Tool
}
