package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// A document of every kind of block renders within the width, its marks
// turned into looks: no "**", "`" or "|" left, links with their address.
func TestMarkdownRender(t *testing.T) {
	doc := "# Weather\n\nIt will be **sunny** in *Lisbon*, then ~~rain~~ a `storm`.\n\n" +
		"- one\n- two with a [link](https://example.com/x)\n  1. nested\n  2. more\n\n" +
		"> quoted text that is long enough to wrap around at a narrow width\n\n" +
		"```go\nfunc main() { fmt.Println(\"a very long line of code that must be wrapped hard\") }\n```\n\n" +
		"| city | temperature |\n|---|---|\n| Lisbon | 21 |\n| Porto | 18 |\n\n---\n\n<https://auto.example>\n"
	for _, noColor := range []bool{false, true} {
		md := newMarkdown(newStyles(noColor))
		for _, width := range []int{80, 30, 12} {
			out := md.render(doc, width)
			plainOut := ansi.Strip(out)
			for i, l := range strings.Split(out, "\n") {
				if w := ansi.StringWidth(l); w > max(width, 10) {
					t.Errorf("width %d: line %d is %d wide: %q", width, i, w, ansi.Strip(l))
				}
			}
			for _, mark := range []string{"**", "`", "~~", "|"} {
				if strings.Contains(plainOut, mark) {
					t.Errorf("width %d: %q left in:\n%s", width, mark, plainOut)
				}
			}
			wants := []string{"# Weather", "sunny", "• one", "2. more", "│", "Lisbon", "Porto"}
			if width >= 30 {
				wants = append(wants, "1. nested", "https://example.com/x", "https://auto.example")
			}
			for _, want := range wants {
				if !strings.Contains(plainOut, want) {
					t.Errorf("width %d: %q missing from:\n%s", width, want, plainOut)
				}
			}
		}
		wide := ansi.Strip(md.render(doc, 80))
		if !strings.Contains(wide, "Lisbon  21") {
			t.Errorf("a table that fits is not aligned in columns:\n%s", wide)
		}
		narrow := ansi.Strip(md.render(doc, 12))
		if !strings.Contains(narrow, "city: Lisbon") {
			t.Errorf("a table too wide is not shown as header: value rows:\n%s", narrow)
		}
	}
}
