// Package hostile holds MCP servers and inputs that attack mediator on
// purpose: servers that try to escape the sandbox, drive the terminal,
// change their tools between review and accept, flood results, or offer
// schemas that would hang the validator. Tests use them to show each
// attack fails; nothing in mediator itself imports this package.
package hostile
