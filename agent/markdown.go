package agent

import (
	"fmt"
	"strings"
)

// Markdown renders a transcript for people (`/save`): each message under
// its role, tool calls with their arguments, results with the servers
// they came from. It holds what the transcript holds, and no more: the
// transcript's results were redacted before they were added.
func Markdown(title string, entries []Entry) string {
	var b strings.Builder
	if title != "" {
		fmt.Fprintf(&b, "# %s\n\n", title)
	}
	for _, e := range entries {
		switch e.Role {
		case RoleUser:
			b.WriteString("## You\n\n")
			b.WriteString(e.Text)
			b.WriteString("\n\n")
		case RoleAssistant:
			b.WriteString("## Assistant\n\n")
			if e.Text != "" {
				b.WriteString(e.Text)
				b.WriteString("\n\n")
			}
			for _, tc := range e.ToolCalls {
				fmt.Fprintf(&b, "Tool call `%s`:\n\n```json\n%s\n```\n\n", tc.Name, tc.Args)
			}
		case RoleTool:
			if e.Result == nil {
				continue
			}
			from := strings.Join(e.Provenance.Servers(), ", ")
			status := "Result"
			if e.Result.IsError {
				status = "Error"
			}
			fmt.Fprintf(&b, "%s of `%s` (from: %s):\n\n```\n%s\n```\n\n", status, e.Result.Name, from, e.Result.Text)
		}
	}
	return b.String()
}
