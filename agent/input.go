package agent

import (
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/orchestrator"
)

// Input is one user turn: what the user typed and what they attached.
type Input struct {
	Text        string
	Attachments []Attachment
}

// Attachment is content a server gave that the user put into the
// conversation (`@server:uri`, `/server:prompt`). Its server is its
// provenance: the model has seen that server's output once it is sent.
type Attachment struct {
	Server string
	// Label says what it is, e.g. the resource's URI or the prompt's name.
	Label string
	Text  string
}

// entry is the user's transcript entry for in: the typed text, then each
// attachment marked with its server and label, so the model can tell
// what came from where.
func (in Input) entry() Entry {
	var b strings.Builder
	b.WriteString(in.Text)
	var servers []string
	for _, a := range in.Attachments {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "<attachment server=%q label=%q>\n%s\n</attachment>", a.Server, a.Label, a.Text)
		servers = append(servers, a.Server)
	}
	return Entry{Message: Message{Role: RoleUser, Text: b.String()}, Provenance: orchestrator.ProvenanceOf(servers...)}
}
