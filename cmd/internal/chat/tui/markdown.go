package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/yuin/goldmark"
	gast "github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// markdown renders CommonMark with GitHub's tables and strikethrough for
// the terminal at a width: headings, emphasis, code, lists, quotes, links
// (their address shown after the text), tables (as "header: value" rows
// when too wide) and rules. No line is wider than the width. Code is not
// highlighted: a highlighter's lexers cost every mediator command their
// start-up time (docs/chat.md, "Rendering").
type markdown struct {
	st *styles
	md goldmark.Markdown
}

func newMarkdown(st *styles) *markdown {
	return &markdown{st: st, md: goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))}
}

func (m *markdown) render(src string, width int) string {
	b := []byte(src)
	doc := m.md.Parser().Parse(text.NewReader(b))
	r := &mdRender{st: m.st, src: b}
	return strings.Trim(r.blocks(doc, max(width, 10)), "\n")
}

// mdRender renders one document's nodes; src is the document's text.
type mdRender struct {
	st  *styles
	src []byte
}

// blocks renders n's children, blank lines between them.
func (r *mdRender) blocks(n gast.Node, width int) string {
	var parts []string
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if s := r.block(c, width); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n\n")
}

func (r *mdRender) block(n gast.Node, width int) string {
	switch n := n.(type) {
	case *gast.Heading:
		st := r.st.bold
		if n.Level == 1 && !r.st.noColor {
			st = r.st.assistant
		}
		return st.Render(wrap(strings.Repeat("#", n.Level)+" "+r.inlines(n), width))
	case *gast.Paragraph, *gast.TextBlock:
		return wrap(r.inlines(n), width)
	case *gast.ThematicBreak:
		return r.st.dim.Render(strings.Repeat("─", min(width, 40)))
	case *gast.Blockquote:
		return prefixLines(r.st.dim.Render("│")+" ", r.blocks(n, width-2))
	case *gast.List:
		return r.list(n, width)
	case *gast.FencedCodeBlock, *gast.CodeBlock:
		code := strings.TrimRight(r.text(n.Lines()), "\n")
		code = ansi.Hardwrap(strings.ReplaceAll(code, "\t", "    "), max(width-2, 1), true)
		return prefixLines("  ", r.st.note.Render(code))
	case *gast.HTMLBlock:
		return wrap(strings.TrimRight(r.text(n.Lines()), "\n"), width)
	case *east.Table:
		return r.table(n, width)
	default:
		return r.blocks(n, width)
	}
}

// list renders a list's items under their bullets or numbers, each item's
// continuation lines indented under its text.
func (r *mdRender) list(n *gast.List, width int) string {
	var items []string
	num := n.Start
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		mark := "• "
		if n.IsOrdered() {
			mark = strconv.Itoa(num) + ". "
			num++
		}
		sep := "\n\n"
		if n.IsTight {
			sep = "\n"
		}
		var parts []string
		for b := c.FirstChild(); b != nil; b = b.NextSibling() {
			if s := r.block(b, width-ansi.StringWidth(mark)); s != "" {
				parts = append(parts, s)
			}
		}
		body := strings.Join(parts, sep)
		items = append(items, mark+prefixRest(strings.Repeat(" ", ansi.StringWidth(mark)), body))
	}
	if n.IsTight {
		return strings.Join(items, "\n")
	}
	return strings.Join(items, "\n\n")
}

// table renders a table with aligned columns when it fits the width, or
// else each row as "header: value" lines.
func (r *mdRender) table(n *east.Table, width int) string {
	var rows [][]string
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		var cells []string
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			cells = append(cells, r.inlines(cell))
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		return ""
	}
	cols := 0
	for _, row := range rows {
		cols = max(cols, len(row))
	}
	widths := make([]int, cols)
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], ansi.StringWidth(c))
		}
	}
	total := 0
	for _, w := range widths {
		total += w + 2
	}
	cell := func(row []string, i int) string {
		if i < len(row) {
			return row[i]
		}
		return ""
	}
	var b strings.Builder
	if total-2 <= width {
		for ri, row := range rows {
			var line strings.Builder
			for i := range cols {
				c := cell(row, i)
				line.WriteString(c + strings.Repeat(" ", widths[i]-ansi.StringWidth(c)))
				if i < cols-1 {
					line.WriteString("  ")
				}
			}
			l := strings.TrimRight(line.String(), " ")
			if ri == 0 {
				l = r.st.bold.Render(l)
			}
			b.WriteString(l + "\n")
			if ri == 0 {
				b.WriteString(r.st.dim.Render(strings.Repeat("─", total-2)) + "\n")
			}
		}
		return strings.TrimRight(b.String(), "\n")
	}
	head := rows[0]
	for ri, row := range rows[1:] {
		if ri > 0 {
			b.WriteString("\n")
		}
		for i := range cols {
			b.WriteString(wrap(r.st.bold.Render(cell(head, i)+":")+" "+cell(row, i), width) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// inlines renders n's inline children as one styled line, soft breaks as
// spaces and hard breaks as new lines.
func (r *mdRender) inlines(n gast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		b.WriteString(r.inline(c))
	}
	return b.String()
}

func (r *mdRender) inline(n gast.Node) string {
	switch n := n.(type) {
	case *gast.Text:
		s := string(n.Value(r.src))
		switch {
		case n.HardLineBreak():
			s += "\n"
		case n.SoftLineBreak():
			s += " "
		}
		return s
	case *gast.String:
		return string(n.Value)
	case *gast.CodeSpan:
		var b strings.Builder
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if t, ok := c.(*gast.Text); ok {
				b.Write(t.Value(r.src))
			} else if s, ok := c.(*gast.String); ok {
				b.Write(s.Value)
			}
		}
		return r.code().Render(b.String())
	case *gast.Emphasis:
		st := lipgloss.NewStyle().Italic(true)
		if n.Level >= 2 {
			st = r.st.bold
		}
		return st.Render(r.inlines(n))
	case *east.Strikethrough:
		return lipgloss.NewStyle().Strikethrough(true).Render(r.inlines(n))
	case *gast.Link:
		return r.linked(r.inlines(n), string(n.Destination))
	case *gast.AutoLink:
		return r.st.user.Render(string(n.URL(r.src)))
	case *gast.Image:
		return r.linked("[image: "+r.inlines(n)+"]", string(n.Destination))
	case *gast.RawHTML:
		return r.text(n.Segments)
	default:
		return r.inlines(n)
	}
}

// text is the source text of segs, as written.
func (r *mdRender) text(segs *text.Segments) string {
	var b strings.Builder
	for i := 0; i < segs.Len(); i++ {
		seg := segs.At(i)
		b.Write(seg.Value(r.src))
	}
	return b.String()
}

// linked is a link's text with its address after it, unless they are the
// same.
func (r *mdRender) linked(label, dest string) string {
	if dest == "" || ansi.Strip(label) == dest {
		return r.st.user.Render(label)
	}
	return fmt.Sprintf("%s (%s)", r.st.user.Render(label), r.st.dim.Render(dest))
}

func (r *mdRender) code() lipgloss.Style {
	if r.st.noColor {
		return lipgloss.NewStyle()
	}
	return lipgloss.NewStyle().Foreground(lipgloss.Color("11"))
}

// prefixLines puts p before every line of s.
func prefixLines(p, s string) string {
	return p + strings.ReplaceAll(s, "\n", "\n"+p)
}

// prefixRest puts p before every line of s but the first.
func prefixRest(p, s string) string {
	return strings.ReplaceAll(s, "\n", "\n"+p)
}
