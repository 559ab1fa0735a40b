package state

import (
	"context"
	"errors"
)

// ErrFenced is wrapped by a KV's CAS error when the store refused the write
// because the writer no longer holds the leadership the KV is bound to (see
// consul.Client.Fenced): another agent may be leader now, so the write must
// not be retried or re-applied as if it were a conflict.
var ErrFenced = errors.New("write refused: this agent is no longer the leader")

// Pair is one key of the store with the index of its last change.
type Pair struct {
	Key   string
	Value []byte
	// ModifyIndex changes on every write of the key and only grows, as
	// Consul's does: a larger index is a newer value.
	ModifyIndex uint64
}

// KV is the part of a key/value store the ledger needs, with Consul's
// semantics: Consul KV in production, MemoryKV in tests.
type KV interface {
	// List returns every key under prefix.
	List(ctx context.Context, prefix string) ([]Pair, error)
	// Get returns one key, or nil and no error when it is absent.
	Get(ctx context.Context, key string) (*Pair, error)
	// CAS writes value only if the key's ModifyIndex is index (0: only if
	// the key is absent), and returns whether it did and the key's new
	// ModifyIndex. A write refused because the index moved is ok=false
	// with a nil error; err is for a write whose outcome is unknown or
	// that was refused for another reason (unreachable, forbidden, or
	// fenced: wrapping ErrFenced, the write certainly did not land).
	CAS(ctx context.Context, key string, value []byte, index uint64) (ok bool, newIndex uint64, err error)
}
