package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows"
)

// failureType is the ApplicationError type of an activity's failed call.
const failureType = "mediator.CallFailed"

// Failure is what a failed call of an activity carries to the workflow:
// its message and every kind of error the interpreter tells apart
// (classify, the retry rule, flow refusals, tasks), so that the error it
// rebuilds classifies as the ToolCaller's own error did.
type Failure struct {
	Message string `json:"message"`
	// Class is a workflows.CallError's class.
	Class string `json:"class,omitempty"`
	// RPC is a JSON-RPC error answer.
	RPC *RPCError `json:"rpc,omitempty"`
	// FlowRefused is a workflows.FlowRefusedError's servers.
	FlowRefused *FlowRefusal `json:"flow_refused,omitempty"`
	// AttemptTimeout, Deadline, Canceled and TaskNotFound say the error
	// wrapped workflows.ErrAttemptTimeout, context.DeadlineExceeded,
	// context.Canceled and connectors.ErrTaskNotFound.
	AttemptTimeout bool `json:"attempt_timeout,omitempty"`
	Deadline       bool `json:"deadline,omitempty"`
	Canceled       bool `json:"canceled,omitempty"`
	TaskNotFound   bool `json:"task_not_found,omitempty"`
	// Result is the answer of a call that happened but failed after
	// (the orchestrator could not audit it).
	Result *mcp.CallToolResult `json:"result,omitempty"`
}

// RPCError is a JSON-RPC error's fields.
type RPCError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// FlowRefusal is a workflows.FlowRefusedError's servers.
type FlowRefusal struct {
	From []string `json:"from"`
	To   string   `json:"to"`
}

// encodeFailure is the activity error for err, a ToolCaller's, with res
// the answer the caller returned beside it, if any.
func encodeFailure(err error, res *mcp.CallToolResult) error {
	f := Failure{
		Message:        err.Error(),
		AttemptTimeout: errors.Is(err, workflows.ErrAttemptTimeout),
		Deadline:       errors.Is(err, context.DeadlineExceeded),
		Canceled:       errors.Is(err, context.Canceled),
		TaskNotFound:   errors.Is(err, connectors.ErrTaskNotFound),
		Result:         res,
	}
	var ce *workflows.CallError
	if errors.As(err, &ce) {
		f.Class = ce.Class
	}
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		f.RPC = &RPCError{Code: je.Code, Message: je.Message, Data: je.Data}
	}
	var fr *workflows.FlowRefusedError
	if errors.As(err, &fr) {
		f.FlowRefused = &FlowRefusal{From: fr.From, To: fr.To}
	}
	return temporal.NewApplicationErrorWithOptions(f.Message, failureType, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Details:      []any{f},
	})
}

// remoteError is a failed call's error rebuilt in the workflow: its
// message, unwrapping to the errors the interpreter looks for.
type remoteError struct {
	msg    string
	wraps  []error
	result *mcp.CallToolResult
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.wraps }

// failureResult is the answer a failed call carried, if any.
func failureResult(err error) *mcp.CallToolResult {
	var re *remoteError
	if errors.As(err, &re) {
		return re.result
	}
	return nil
}

// decodeFailure turns an activity's error into the error the ToolCaller
// returned (as far as the interpreter can tell), nil staying nil. A
// start-to-close timeout is the step's timeout (wrapping
// workflows.ErrAttemptTimeout) when the step set one, else the server's
// (class timeout), as the local runtime reports them. A heartbeat timeout
// is a worker lost mid-call: the call may or may not have happened, as
// with a connection lost (class transport, workflows.ErrOutcomeUnknown),
// and the flow's retry rule says whether it is sent again, or else an
// operator (workflows.Resolver).
func decodeFailure(err error, stepTimeout time.Duration) error {
	if err == nil {
		return nil
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		if te.TimeoutType() != enumspb.TIMEOUT_TYPE_START_TO_CLOSE {
			lost := &workerLost{err: err}
			var d CallDetails
			if te.HasLastHeartbeatDetails() && te.LastHeartbeatDetails(&d) == nil {
				lost.taskID = d.TaskID
			}
			return &workflows.CallError{Class: workflows.ClassTransport, Err: lost}
		}
		cause := fmt.Errorf("the call did not finish within %s: %w", stepTimeout, context.DeadlineExceeded)
		if stepTimeout > 0 {
			return &remoteError{msg: cause.Error(), wraps: []error{cause, workflows.ErrAttemptTimeout}}
		}
		return &workflows.CallError{Class: workflows.ClassTimeout, Err: errors.New("the call did not finish within the server's timeout")}
	}
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != failureType || !ae.HasDetails() {
		// Not a call's failure (a worker's panic, a payload that did not
		// decode): the call did not produce a result.
		return &workflows.CallError{Class: workflows.ClassTransport, Err: err}
	}
	var f Failure
	if derr := ae.Details(&f); derr != nil {
		return &workflows.CallError{Class: workflows.ClassTransport, Err: fmt.Errorf("%s (its details did not decode: %v)", ae.Error(), derr)}
	}
	re := &remoteError{msg: f.Message, result: f.Result}
	base := errors.New(f.Message)
	re.wraps = append(re.wraps, base)
	if f.FlowRefused != nil {
		re.wraps = append(re.wraps, &workflows.FlowRefusedError{From: f.FlowRefused.From, To: f.FlowRefused.To, Err: base})
	}
	if f.Class != "" {
		re.wraps = append(re.wraps, &workflows.CallError{Class: f.Class, Err: base})
	}
	if f.RPC != nil {
		re.wraps = append(re.wraps, &jsonrpc.Error{Code: f.RPC.Code, Message: f.RPC.Message, Data: f.RPC.Data})
	}
	if f.AttemptTimeout || (f.Deadline && stepTimeout > 0) {
		re.wraps = append(re.wraps, workflows.ErrAttemptTimeout)
	}
	if f.Deadline {
		re.wraps = append(re.wraps, context.DeadlineExceeded)
	}
	if f.Canceled {
		re.wraps = append(re.wraps, context.Canceled)
	}
	if f.TaskNotFound {
		re.wraps = append(re.wraps, connectors.ErrTaskNotFound)
	}
	return re
}
