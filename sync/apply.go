package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// ErrConflict is a register Nomad refused because the job changed after it
// was planned: someone else wrote it in between. The job is planned again
// next cycle; it is never retried blindly.
var ErrConflict = errors.New("job changed since it was planned (check-index refused)")

// enforceIndexPrefix starts the error Nomad returns when EnforceIndex fails.
const enforceIndexPrefix = "Enforcing job modify index"

// IsConflict reports whether err is a check-index refusal.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// register writes job with check-index against the modify index its plan
// saw (0 for a job that must not exist yet). It runs on a context detached
// from shutdown: a register in flight is finished, not abandoned halfway.
// With preserveCounts, Nomad keeps the count every existing group has in
// the cluster.
func (e *Engine) register(ctx context.Context, r *JobResult, job *api.Job, sub *api.JobSubmission, index uint64, preserveCounts bool) (*Applied, error) {
	if err := e.allowed(); err != nil {
		return nil, fmt.Errorf("register %s: %w", r.Key, err)
	}
	ctx, cancel := e.call(context.WithoutCancel(ctx))
	defer cancel()
	resp, err := e.cluster.Register(ctx, job, &api.RegisterOptions{
		EnforceIndex:   true,
		ModifyIndex:    index,
		Submission:     sub,
		PreserveCounts: preserveCounts,
	})
	e.progress()
	if err != nil {
		if isEnforceIndexError(err) {
			return nil, fmt.Errorf("register %s at index %d: %w", r.Key, index, ErrConflict)
		}
		return nil, fmt.Errorf("register %s: %w", r.Key, markUnreachable(err))
	}
	applied := &Applied{EvalID: resp.EvalID, ModifyIndex: resp.JobModifyIndex}
	// The register response carries no version; a failed read here does
	// not undo the register, so it only leaves the version unknown.
	if got, err := e.cluster.Job(ctx, r.Namespace, r.ID); err == nil && got.Version != nil {
		applied.Version, applied.Job = *got.Version, got
	}
	e.progress()
	return applied, nil
}

// ErrFenced is wrapped by the errors of writes the engine did not make
// because this replica no longer leads: the cycle stops at once.
var ErrFenced = errors.New("not the leader any more: write refused")

// allowed asks Options.Allowed whether a write may be made now.
func (e *Engine) allowed() error {
	if e.opts.Allowed != nil && !e.opts.Allowed() {
		return ErrFenced
	}
	return nil
}

// ErrUnreachable is wrapped by the errors of calls Nomad did not answer
// (no response, a timeout, or a gateway's 502/503/504 or a 429 in front of
// it), as opposed to an answer about one job: the first fails the cycle,
// the second is that job's error.
var ErrUnreachable = errors.New("nomad unreachable")

// IsUnreachable reports whether err wraps ErrUnreachable.
func IsUnreachable(err error) bool { return errors.Is(err, ErrUnreachable) }

// markUnreachable wraps err with ErrUnreachable when Nomad gave no answer
// about the job. A 500 is an answer: Nomad reports a job that fails
// validation with a 500, and a failing job must never stop the others.
func markUnreachable(err error) error {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		switch ue.StatusCode() {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		default:
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// isEnforceIndexError recognises Nomad's answer to a failed check-index,
// which carries no code of its own: a response whose body starts with
// Nomad's fixed wording.
func isEnforceIndexError(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && strings.Contains(ue.Body(), enforceIndexPrefix)
}
