package serve

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
)

// maskSecrets makes srv mask every secret the redactor knows in all it
// sends the host: results and errors of the host's requests, and the
// requests and notifications mediator sends on its own (progress, logs,
// a backend's elicitation or sampling forwarded). A server may echo
// another's key (or its own) in what it returns; the host must never see
// it. red is read at each message: opening the keyring replaces it.
func maskSecrets(srv *mcp.Server, red func() *credentials.Redactor) {
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			r := red()
			if r == nil {
				return res, err
			}
			if err != nil {
				err = maskError(r, err)
			}
			if res != nil && !isNil(res) {
				res = maskJSON(r, res)
			}
			return res, err
		}
	})
	srv.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if r := red(); r != nil {
				if p := req.GetParams(); p != nil && !isNil(p) {
					maskInPlace(r, p)
				}
			}
			return next(ctx, method, req)
		}
	})
}

// maskJSON returns v, or a copy of it with the secrets masked in its JSON
// form (which covers their escaped forms too). A value whose masked form
// no longer decodes (a secret inside a number) is withheld.
func maskJSON[T any](r *credentials.Redactor, v T) T {
	if reflect.TypeOf(v).Kind() != reflect.Pointer {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	masked := r.RedactBytes(b)
	if len(masked) == len(b) && string(masked) == string(b) {
		return v
	}
	out := reflect.New(reflect.TypeOf(v).Elem())
	if err := json.Unmarshal(masked, out.Interface()); err != nil {
		var zero T
		if _, ok := any(v).(*mcp.CallToolResult); ok {
			return any(&mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "mediator withheld this result: it held a secret"}}}).(T)
		}
		return zero
	}
	return out.Interface().(T)
}

// maskInPlace masks the secrets in p, a pointer to params mediator is
// about to send.
func maskInPlace(r *credentials.Redactor, p mcp.Params) {
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	if masked := r.RedactBytes(b); string(masked) != string(b) {
		_ = json.Unmarshal(masked, p)
	}
}

// maskError masks the secrets in an error's text, keeping a JSON-RPC
// error's code.
func maskError(r *credentials.Redactor, err error) error {
	msg := err.Error()
	masked := r.Redact(msg)
	if masked == msg {
		return err
	}
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		return &jsonrpc.Error{Code: je.Code, Message: r.Redact(je.Message)}
	}
	return errors.New(masked)
}

func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
