package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrConflict is returned when a job's state key kept changing under the
// ledger's writes; the change stays in memory and is written later.
var ErrConflict = errors.New("state key changed by someone else at every attempt")

// maxWriteAttempts bounds the compare-and-set attempts of one write: each
// failed one re-reads the key and re-applies drover's changes on top.
const maxWriteAttempts = 5

// write writes e's newest generation with a compare-and-set on the index
// its memory is based on. Writes of one key take turns (e.slot), and each
// takes the generation current when it starts, so an older state is never
// written after a newer one. When the key changed in the store, the
// store's copy is adopted with the unwritten changes re-applied, and the
// result written again.
func (l *Ledger) write(ctx context.Context, e *entry) (conflicts []Conflict, err error) {
	if err := e.acquire(ctx); err != nil {
		return nil, fmt.Errorf("write state %s: %w", e.key, err)
	}
	defer e.release()
	for try := 1; ; try++ {
		l.mu.Lock()
		if len(e.pending) == 0 {
			l.mu.Unlock()
			return conflicts, nil // a write of a newer generation took it
		}
		if e.invalid != nil {
			err := e.invalid
			l.mu.Unlock()
			return conflicts, err
		}
		gen, index := e.gen, e.index
		body, err := json.Marshal(e.job)
		l.mu.Unlock()
		if err != nil {
			return conflicts, fmt.Errorf("encode state of %s: %w", e.k, err)
		}

		cctx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
		ok, newIndex, err := l.kv.CAS(cctx, e.key, body, index)
		cancel()
		l.mu.Lock()
		switch {
		case errors.Is(err, ErrFenced):
			// Refused as a whole: nothing landed, and the change stays
			// pending. Not a conflict: there is nothing to re-read and
			// re-apply, only a leadership that is gone.
		case err != nil:
			// The write may still have landed; if the key turns out to
			// hold exactly this, it was ours.
			e.unsure = append(e.unsure, attempt{gen: gen, body: body})
			if n := len(e.unsure); n > maxUnsure {
				e.unsure = e.unsure[n-maxUnsure:]
			}
		case ok:
			l.wrote(e, gen, newIndex)
		}
		loaded := l.loaded
		l.mu.Unlock()
		if err != nil {
			return conflicts, fmt.Errorf("write state %s: %w", e.key, err)
		}
		if ok {
			return conflicts, nil
		}
		if try == maxWriteAttempts {
			return conflicts, fmt.Errorf("write state %s: %w (%d attempts)", e.key, ErrConflict, try)
		}

		cctx, cancel = context.WithTimeout(ctx, l.opts.CallTimeout)
		p, err := l.kv.Get(cctx, e.key)
		cancel()
		if err != nil {
			return conflicts, fmt.Errorf("re-read state %s after a conflicting write: %w", e.key, err)
		}
		l.mu.Lock()
		if c := l.adopt(e, p, loaded); c != nil {
			conflicts = append(conflicts, *c)
		}
		l.mu.Unlock()
	}
}

// adopt makes the store's copy p (nil: the key is absent) the base of e,
// with the unwritten changes applied on top, to be written next. It
// returns the conflict to report when external is set and the copy is not
// one of our own writes. l.mu and e.slot must be held.
func (l *Ledger) adopt(e *entry, p *Pair, external bool) *Conflict {
	if p != nil {
		for _, a := range e.unsure {
			if bytes.Equal(a.body, p.Value) {
				// Our write whose answer was lost: memory already
				// holds it and whatever changed since.
				l.wrote(e, a.gen, p.ModifyIndex)
				return nil
			}
		}
	}
	var base *Job
	var invalid error
	if p != nil {
		base, invalid = decode(p.Key, e.k, p.Value)
	}
	l.setIndex(e, indexOf(p))
	e.invalid = invalid
	if invalid != nil {
		e.job = nil
		return nil // reported by Invalid and Problems
	}
	for _, c := range e.pending {
		if base == nil {
			base = &Job{Namespace: e.k.Namespace, ID: e.k.ID}
		}
		c.fn(base)
	}
	e.job = base
	e.gen++
	if !external {
		return nil
	}
	return &Conflict{Key: e.key, Job: e.k, Deleted: p == nil, Reapplied: len(e.pending)}
}

// wrote records that generation gen of e is in the store at index: the
// changes up to it are durable. l.mu must be held.
func (l *Ledger) wrote(e *entry, gen, index uint64) {
	l.setIndex(e, index)
	e.pending = slices.DeleteFunc(e.pending, func(c change) bool { return c.gen <= gen })
}

// setIndex moves e to another stored copy. Writes of unknown outcome were
// made against the old index and can no longer land. l.mu must be held.
func (l *Ledger) setIndex(e *entry, index uint64) {
	l.seq++
	e.index, e.seq, e.unsure = index, l.seq, nil
}
