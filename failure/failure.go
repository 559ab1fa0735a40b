// Package failure says what an error means for the loop that meets it,
// decided where the error is made (Flux's Stalling): the package that knows
// a ref is missing or a token lacks a permission marks its error, and the
// cycle reads the mark with errors.As instead of knowing every adapter's
// error types.
//
// An error is one of:
//   - a Stall: retrying cannot fix it; someone must change the
//     configuration or the remote. Retried slowly, reported once.
//   - Transient: the next attempt may well work (a network error, a 5xx, a
//     timeout). This is every error that carries no mark; Transient marks
//     one only where it could be taken for one job's fault.
//   - one job's: it fails that job and the cycle goes on. Such an error is
//     kept on the job (jobs.File.Err, reconcile.JobResult.Err) and never
//     fails the cycle, so it needs no mark.
package failure

import "errors"

// Stall is an error retrying cannot fix. Its Error is Err's: marking an
// error changes what the loop does with it, not what it says.
type Stall struct {
	// What is wrong, in the words an operator acts on ("git ref not
	// found").
	What string
	// Fix is what to change ("check --ref, or push it"), as precise as
	// where the error is made can say: a 403 that knows its namespace
	// names the capability the token lacks there. Empty when What says it
	// all.
	Fix string
	Err error
}

func (s *Stall) Error() string { return s.Err.Error() }

func (s *Stall) Unwrap() error { return s.Err }

// Reason is What with Fix in brackets: "git ref not found (check --ref,
// or push it)".
func (s *Stall) Reason() string {
	if s.Fix == "" {
		return s.What
	}
	return s.What + " (" + s.Fix + ")"
}

// StallOf returns the first Stall in err's chain.
func StallOf(err error) (*Stall, bool) {
	var s *Stall
	if errors.As(err, &s) && s != nil {
		return s, true
	}
	return nil, false
}

// Transient marks an error that is the cycle's, not the job's it was met
// for: a job file Nomad did not answer the parse of says nothing about
// the file. A Stall inside one still stalls.
type Transient struct {
	Err error
}

func (t *Transient) Error() string { return t.Err.Error() }

func (t *Transient) Unwrap() error { return t.Err }

// IsTransient reports whether err is marked Transient.
func IsTransient(err error) bool {
	var t *Transient
	return errors.As(err, &t)
}
