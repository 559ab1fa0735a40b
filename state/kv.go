package state

import "context"

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
	// that was refused for another reason (unreachable, forbidden).
	CAS(ctx context.Context, key string, value []byte, index uint64) (ok bool, newIndex uint64, err error)
}
