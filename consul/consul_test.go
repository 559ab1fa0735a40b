package consul

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/state"
	consulapi "github.com/hashicorp/consul/api"
)

// fakeKV answers /v1/kv and /v1/txn as Consul does: one index for the
// whole store, a compare-and-set refused with 409 and the reason per
// operation, a permission refused in a transaction the same way.
type fakeKV struct {
	mu    sync.Mutex
	index uint64
	kv    map[string]consulapi.KVPair
	// status, when set, answers every request with it.
	status int
	// denyWrites refuses transactions as Consul does for a token without
	// key:write: a rolled-back transaction naming the permission.
	denyWrites bool
	// sessions are the lock keys' holders, for check-session ops.
	sessions map[string]string
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, http.StatusText(f.status))
		return
	}
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/txn":
		f.txn(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/kv/"):
		key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
		var out []consulapi.KVPair
		for k, p := range f.kv {
			if k == key || (r.URL.Query().Has("recurse") && strings.HasPrefix(k, key)) {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
		w.Header().Set("X-Consul-Index", fmt.Sprint(f.index))
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
	}
}

func (f *fakeKV) txn(w http.ResponseWriter, r *http.Request) {
	var ops consulapi.TxnOps
	if err := json.NewDecoder(r.Body).Decode(&ops); err != nil || len(ops) == 0 || len(ops) > 2 {
		http.Error(w, fmt.Sprintf("want a KV cas op, after a check-session op or not: %v", err), http.StatusBadRequest)
		return
	}
	var results consulapi.TxnResults
	var errs consulapi.TxnErrors
	// Consul runs every op and reports each failure with its index.
	if len(ops) == 2 {
		check := ops[0].KV
		if check == nil || check.Verb != consulapi.KVCheckSession {
			http.Error(w, "want check-session as the first of two ops", http.StatusBadRequest)
			return
		}
		if held := f.sessions[check.Key]; held != check.Session {
			errs = append(errs, &consulapi.TxnError{OpIndex: 0, What: fmt.Sprintf("failed session check for key %q, current session %q != %q", check.Key, held, check.Session)})
		} else {
			results = append(results, &consulapi.TxnResult{KV: &consulapi.KVPair{Key: check.Key, Session: held}})
		}
	}
	op := ops[len(ops)-1].KV
	if op == nil || op.Verb != consulapi.KVCAS {
		http.Error(w, "want a KV cas op last", http.StatusBadRequest)
		return
	}
	switch {
	case f.denyWrites:
		errs = append(errs, &consulapi.TxnError{OpIndex: len(ops) - 1, What: fmt.Sprintf("Permission denied: token with AccessorID 'x' lacks permission 'key:write' on %q", op.Key)})
	case f.kv[op.Key].ModifyIndex != op.Index:
		errs = append(errs, &consulapi.TxnError{OpIndex: len(ops) - 1, What: fmt.Sprintf("failed to set key %q, index is stale", op.Key)})
	}
	if len(errs) > 0 {
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(consulapi.TxnResponse{Errors: errs})
		return
	}
	if f.kv == nil {
		f.kv = map[string]consulapi.KVPair{}
	}
	f.index++
	p := consulapi.KVPair{Key: op.Key, Value: op.Value, CreateIndex: f.kv[op.Key].CreateIndex, ModifyIndex: f.index}
	if p.CreateIndex == 0 {
		p.CreateIndex = f.index
	}
	f.kv[op.Key] = p
	// Consul leaves the value out of a write's result.
	res := p
	res.Value = nil
	_ = json.NewEncoder(w).Encode(consulapi.TxnResponse{Results: append(results, &consulapi.TxnResult{KV: &res})})
}

// client returns a Client configured from the environment, as drover's
// is, pointed at h.
func client(t *testing.T, h http.Handler, opts Options) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_SSL", "")
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient_CompareAndSet(t *testing.T) {
	ctx := t.Context()
	c := client(t, &fakeKV{}, Options{})
	const key = "drover/x/jobs/default/web"

	if p, err := c.Get(ctx, key); p != nil || err != nil {
		t.Fatalf("Get of a missing key = %+v, %v; want nil, nil", p, err)
	}
	ok, first, err := c.CAS(ctx, key, []byte("v1"), 0)
	if !ok || err != nil || first == 0 {
		t.Fatalf("create with index 0 = %v, %d, %v; want a write and its index", ok, first, err)
	}
	if ok, _, err := c.CAS(ctx, key, []byte("again"), 0); ok || err != nil {
		t.Fatalf("create of an existing key = %v, %v; want refused without an error", ok, err)
	}
	ok, second, err := c.CAS(ctx, key, []byte("v2"), first)
	if !ok || err != nil || second <= first {
		t.Fatalf("write with the returned index = %v, %d, %v; want a write and a larger index than %d", ok, second, err, first)
	}
	if ok, _, err := c.CAS(ctx, key, []byte("stale"), first); ok || err != nil {
		t.Fatalf("write with a stale index = %v, %v; want refused without an error", ok, err)
	}
	p, err := c.Get(ctx, key)
	if err != nil || p == nil || string(p.Value) != "v2" || p.ModifyIndex != second {
		t.Fatalf("Get = %+v, %v; want v2 at index %d", p, err, second)
	}
	if _, _, err := c.CAS(ctx, "drover/x/jobs/default/api", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	pairs, err := c.List(ctx, "drover/x/jobs/")
	if err != nil || len(pairs) != 2 || pairs[1].Key != key || pairs[1].ModifyIndex != second || string(pairs[1].Value) != "v2" {
		t.Fatalf("List = %+v, %v", pairs, err)
	}
}

func TestClient_RefusalsAreTyped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fake      *fakeKV
		forbidden bool
	}{
		{"403 from the server", &fakeKV{status: http.StatusForbidden}, true},
		{"permission refused inside the transaction", &fakeKV{denyWrites: true}, true},
		{"server error", &fakeKV{status: http.StatusInternalServerError}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, tc.fake, Options{})
			ok, _, err := c.CAS(t.Context(), "k", []byte("v"), 0)
			if ok || err == nil || IsForbidden(err) != tc.forbidden || stalls(err) != tc.forbidden {
				t.Errorf("CAS = %v, %v (forbidden %v); want an error, forbidden %v and stalling", ok, err, IsForbidden(err), tc.forbidden)
			}
			if tc.fake.status == 0 {
				return
			}
			if _, err := c.Get(t.Context(), "k"); err == nil || IsForbidden(err) != tc.forbidden || stalls(err) != tc.forbidden {
				t.Errorf("Get: %v; want forbidden %v and stalling", err, tc.forbidden)
			}
			if _, err := c.List(t.Context(), "k"); err == nil || IsForbidden(err) != tc.forbidden || stalls(err) != tc.forbidden {
				t.Errorf("List: %v; want forbidden %v and stalling", err, tc.forbidden)
			}
		})
	}
}

// stalls reports whether err is the stall a refused ACL is: retrying
// cannot fix it, and the operator is told which token to look at.
func stalls(err error) bool {
	st, ok := failure.StallOf(err)
	return ok && st.Reason() == "permission denied by Consul (check CONSUL_HTTP_TOKEN's ACL policy)"
}

func TestClient_FencedWritesOnlyWhileTheLockIsHeld(t *testing.T) {
	const lock, key = "drover/x/leader", "drover/x/jobs/default/web"
	for _, tc := range []struct {
		name       string
		holder     string // the lock's session
		denyWrites bool
		index      uint64 // of the write; the key is at 1
		wantOK     bool
		wantFenced bool
		forbidden  bool
	}{
		{name: "held: written", holder: "s1", index: 1, wantOK: true},
		{name: "held, stale index: refused without an error", holder: "s1", index: 0},
		{name: "held by another session: fenced", holder: "s2", index: 1, wantFenced: true},
		{name: "released: fenced", holder: "", index: 1, wantFenced: true},
		{name: "released and stale: fenced, not a conflict", holder: "", index: 0, wantFenced: true},
		{name: "held, no permission: forbidden", holder: "s1", index: 1, denyWrites: true, forbidden: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeKV{sessions: map[string]string{lock: tc.holder}, index: 1, kv: map[string]consulapi.KVPair{key: {Key: key, Value: []byte("v1"), CreateIndex: 1, ModifyIndex: 1}}}
			fake.denyWrites = tc.denyWrites
			kv := client(t, fake, Options{}).Fenced(lock, "s1")
			ok, index, err := kv.CAS(t.Context(), key, []byte("v2"), tc.index)
			if ok != tc.wantOK || errors.Is(err, state.ErrFenced) != tc.wantFenced || IsForbidden(err) != tc.forbidden || stalls(err) != tc.forbidden {
				t.Fatalf("CAS = %v, %d, %v; want ok %v, fenced %v, forbidden %v", ok, index, err, tc.wantOK, tc.wantFenced, tc.forbidden)
			}
			if tc.wantOK && index != 2 {
				t.Errorf("index = %d; want the write's, 2", index)
			}
			if tc.wantFenced && !strings.Contains(err.Error(), lock) {
				t.Errorf("error %q does not name the lock", err)
			}
			if got := fake.kv[key]; (string(got.Value) == "v2") != tc.wantOK {
				t.Errorf("stored %q; want written %v", got.Value, tc.wantOK)
			}
			if p, err := kv.Get(t.Context(), key); err != nil || p == nil {
				t.Errorf("Get through the fenced KV = %+v, %v", p, err)
			}
		})
	}
}

func TestIsForbidden(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{consulapi.StatusError{Code: 403, Body: "Permission denied"}, true},
		{fmt.Errorf("write state: %w", consulapi.StatusError{Code: 403}), true},
		{fmt.Errorf("write state: %w", &consulapi.StatusError{Code: 403}), true},
		{consulapi.StatusError{Code: 500}, false},
		{errors.New("Permission denied"), false},
		{nil, false},
	} {
		if got := IsForbidden(tc.err); got != tc.want {
			t.Errorf("IsForbidden(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A Consul that accepts the request and never answers is given up on after
// Options.Timeout even when the caller set no deadline.
func TestNew_TimeoutIsABackstop(t *testing.T) {
	stop := make(chan struct{})
	hung := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	c := client(t, hung, Options{Timeout: 100 * time.Millisecond})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for handlers
	start := time.Now()
	_, err := c.Get(t.Context(), "k")
	if err == nil {
		t.Fatal("Get from a hung Consul returned no error")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Get gave up after %v; want about the 100ms timeout", took)
	}
}
