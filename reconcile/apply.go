package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/drover-dev/drover/jobs"
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
	applied := &Applied{EvalID: resp.EvalID, ModifyIndex: resp.JobModifyIndex, Job: job}
	old, known := e.versions.at(r.Key, index)
	if v, at, ok := versionAfter(job, index, old, known, resp); ok {
		applied.Version = v
		e.versions.set(r.Key, at, v)
		return applied, nil
	}
	// The register response carries no version: only when it cannot be
	// worked out is the job read back. A failed read does not undo the
	// register, so it only leaves the version unknown.
	got, err := e.cluster.Job(ctx, r.Namespace, r.ID)
	e.progress()
	if err != nil || got.Version == nil || got.JobModifyIndex == nil {
		e.versions.forget(r.Key)
		applied.Job = nil
		return applied, nil
	}
	applied.Version = *got.Version
	e.versions.set(r.Key, *got.JobModifyIndex, *got.Version)
	return applied, nil
}

// versionAfter is the version Nomad gave job by a register made with
// check-index at index, and the job modify index it has it at, when that
// can be known without asking Nomad; old is the version the job had at
// index, if known. It follows Nomad's state store (upsertJobImpl): a new
// job keeps the version it was sent with (0); a changed spec gets the sent
// version if that is higher, else the old version plus one; an unchanged
// spec keeps its version and its job modify index. The check-index passed,
// so the job's modify index was still index when the register was applied,
// and a version only ever moves with it: old is the version replaced.
//
// Nomad answers a register whose spec did not change without writing the
// job, with its modify index and an evaluation created after it; a
// register that wrote the job creates its evaluation in the same write, at
// the same index. Without an evaluation (periodic and parameterized jobs)
// the two cannot be told apart: ok is false then, as it is when old is not
// known.
func versionAfter(job *api.Job, index, old uint64, known bool, resp *api.JobRegisterResponse) (version, at uint64, ok bool) {
	var sent uint64
	if job.Version != nil {
		sent = *job.Version
	}
	switch {
	case index == 0:
		return sent, resp.JobModifyIndex, true
	case !known || resp.EvalID == "":
		return 0, 0, false
	case resp.EvalCreateIndex != resp.JobModifyIndex:
		return old, index, true
	case sent > old:
		return sent, resp.JobModifyIndex, true
	default:
		return old + 1, resp.JobModifyIndex, true
	}
}

// versionBook remembers the version each job had at a job modify index, as
// drover's own registers left it, so the next register of the job knows
// the version it replaces. A job someone else registered in between has
// another modify index, and is read back once.
type versionBook struct {
	byJob[knownVersion]
}

type knownVersion struct{ index, version uint64 }

func (b *versionBook) at(key jobs.Key, index uint64) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.entries[key]
	return k.version, ok && k.index == index
}

func (b *versionBook) set(key jobs.Key, index, version uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.put(key, knownVersion{index, version})
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
