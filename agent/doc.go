// Package agent is the model side of `mediator chat` (and of `chat -p`
// and, later, `mediator serve`): a language model behind a small
// interface of mediator's own, and the agent loop that lets it call MCP
// tools, every call through the orchestrator.
//
// # Contract
//
//   - The model (Model; NewModel builds one from a plain Config over
//     charm.land/fantasy) is offered the orchestrator's allowed, pinned
//     tools as "server__tool" with their input schemas, and nothing else
//     of mediator's state. Its API key is a credentials.Secret, revealed
//     only to build the provider's client, and sent only to the
//     provider's origin (redirects elsewhere are refused).
//   - Every tool call the model makes is decided in this order: the
//     approval rules (Approvals: deny, then ask, then allow; by default a
//     read-only tool with a pinned definition is allowed, the rest ask,
//     and the front end's Approver asks the user: once, for the session,
//     or deny), then the orchestrator (server filters, pins, argument
//     schema, the data-flow policy, audit).
//   - A Session knows what its context holds: the servers whose output
//     the model has seen (Session.Provenance, the union of each
//     transcript Entry's). Each call carries it as its provenance, so a
//     call to server B while the context holds A's output is refused
//     unless A -> B is in the config's policy.flows, the session's Flows,
//     or the user approves it (the Approver's ApproveFlow, shown the
//     arguments that would be sent). A session approval is remembered for
//     (sources -> server, tool), never for the edge as a whole. Without an
//     Approver such calls are refused (fail closed).
//   - Skills are offered by name and description through the load_skill
//     tool and read only when the model loads one (orchestrator.LoadSkill);
//     the listing and each skill's text carry their server's provenance.
//   - Whatever is refused, the model is told: the tool result says it
//     was refused, by what, and that nothing was sent.
//   - Results and errors go to the model through the credentials.Redactor,
//     after their audit records are written (orchestrator.SyncAudit); the
//     system prompt holds no secret. So no credential mediator knows of
//     reaches the model.
//
// The front end (the chat TUI, `chat -p`) supplies the Approver and
// shows Send's Updates; it owns nothing of the loop's rules.
package agent
