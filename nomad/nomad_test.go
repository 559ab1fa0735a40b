package nomad

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// fakeJobsAPI serves /v1/jobs like Nomad: the whole list, or one stub with
// per_page=1, with the list's index in X-Nomad-Index.
type fakeJobsAPI struct {
	mu       sync.Mutex
	index    uint64
	jobs     []string
	requests []string // "full", "probe" or "watch"
}

func (f *fakeJobsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	if r.URL.Path != "/v1/jobs" || q.Get("namespace") != "*" || q.Get("meta") != "true" {
		http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
		return
	}
	kind, n := "full", len(f.jobs)
	switch {
	case q.Get("wait") != "":
		kind = "watch"
	case q.Get("per_page") == "1":
		kind, n = "probe", min(n, 1)
	}
	f.requests = append(f.requests, kind)
	stubs := []*api.JobListStub{}
	for _, id := range f.jobs[:n] {
		stubs = append(stubs, &api.JobListStub{ID: id, Namespace: "default"})
	}
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(f.index, 10))
	_ = json.NewEncoder(w).Encode(stubs)
}

func (f *fakeJobsAPI) change(jobs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.jobs = jobs
}

func (f *fakeJobsAPI) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.requests
	f.requests = nil
	return out
}

func ids(stubs []*api.JobListStub) string {
	var out []string
	for _, s := range stubs {
		out = append(out, s.ID)
	}
	return fmt.Sprint(out)
}

func TestJobs_ListThatDidNotMoveIsServedAfterAProbe(t *testing.T) {
	f := &fakeJobsAPI{index: 7, jobs: []string{"a", "b", "c"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	nc := Wrap(c)
	ctx := context.Background()

	for i, want := range []struct {
		change   func()
		requests string
		jobs     string
	}{
		{nil, "[full]", "[a b c]"},
		{nil, "[probe]", "[a b c]"},
		{func() { f.change("a", "b", "c", "d") }, "[probe full]", "[a b c d]"},
		{nil, "[probe]", "[a b c d]"},
	} {
		if want.change != nil {
			want.change()
		}
		stubs, err := nc.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(f.took()); got != want.requests || ids(stubs) != want.jobs {
			t.Errorf("call %d: requests %s, jobs %s; want %s, %s", i+1, got, ids(stubs), want.requests, want.jobs)
		}
	}

	// The watch's lists are the same query: a cycle after the watch saw a
	// change needs only the probe.
	f.change("a")
	stubs, index, err := nc.WatchJobs(ctx, 8, time.Second)
	if err != nil || index != 9 || ids(stubs) != "[a]" {
		t.Fatalf("WatchJobs = %s at %d, %v", ids(stubs), index, err)
	}
	f.took()
	stubs, err = nc.Jobs(ctx)
	if got := fmt.Sprint(f.took()); err != nil || got != "[probe]" || ids(stubs) != "[a]" {
		t.Errorf("after the watch: requests %s, jobs %s, %v; want [probe], [a]", got, ids(stubs), err)
	}
}

// TestIsForbiddenAndIsNotFound: a 403 (a token without the permission)
// and a 404 are told apart from each other and from a 500 by status code,
// and a 403 stalls.
func TestIsForbiddenAndIsNotFound(t *testing.T) {
	for code, want := range map[int][2]bool{
		http.StatusForbidden:           {true, false},
		http.StatusNotFound:            {false, true},
		http.StatusInternalServerError: {false, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Permission denied", code)
		}))
		c, err := api.NewClient(&api.Config{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Wrap(c).Job(context.Background(), "default", "web")
		srv.Close()
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
		wrapped := fmt.Errorf("read job: %w", err)
		if IsForbidden(wrapped) != want[0] || IsNotFound(wrapped) != want[1] {
			t.Errorf("%d: IsForbidden %v IsNotFound %v, want %v", code, IsForbidden(wrapped), IsNotFound(wrapped), want)
		}
		// A 403 is a stall, told where it is made, naming what the call
		// needed where; nothing else is.
		st, stalled := failure.StallOf(wrapped)
		if stalled != want[0] || (stalled && st.Reason() != `Nomad token lacks read-job in namespace "default" (add to its policy: namespace "default" { capabilities = ["read-job"] })`) {
			t.Errorf("%d: stall %+v, %v; want a stall %v naming the capability, the namespace and the policy line", code, st, stalled, want[0])
		}
	}
}
