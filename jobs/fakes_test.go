package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// fakeTree is an in-memory Tree. Tests change files between loads.
type fakeTree struct {
	rev     string
	files   map[string]string
	listErr error
	readErr map[string]error
}

func (t *fakeTree) Revision() string { return t.rev }

func (t *fakeTree) Files() ([]string, error) {
	if t.listErr != nil {
		return nil, t.listErr
	}
	out := make([]string, 0, len(t.files))
	for p := range t.files {
		out = append(out, p)
	}
	// Map order is random; a sorted listing would hide a missing sort.
	return out, nil
}

func (t *fakeTree) ReadFile(p string) ([]byte, error) {
	if err := t.readErr[p]; err != nil {
		return nil, err
	}
	src, ok := t.files[p]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
	return []byte(src), nil
}

// fakeParser understands a tiny stand-in for job HCL, one "key = value" per
// line: job, namespace, image, ignore (drover.ignore meta), and fail (returned as a plain, transient
// error). It records every request and is safe for the loader's parallel
// parses.
type fakeParser struct {
	mu    sync.Mutex
	calls []*api.JobsParseRequest
}

func (p *fakeParser) ParseJob(ctx context.Context, req *api.JobsParseRequest) (*api.Job, error) {
	p.mu.Lock()
	p.calls = append(p.calls, req)
	p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(req.JobHCL, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if msg := kv["fail"]; msg != "" {
		return nil, errors.New(msg)
	}
	job := testJob(kv["job"], kv["namespace"], kv["image"])
	if v, ok := kv["ignore"]; ok {
		job.Meta = map[string]string{MetaIgnore: v}
	}
	return job, nil
}

func (p *fakeParser) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// parsed returns the sources parsed so far, sorted.
func (p *fakeParser) parsed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		out = append(out, c.JobHCL)
	}
	sort.Strings(out)
	return out
}

// testJob builds a job the way the parse API returns one: pointers set only
// for what the source declares.
func testJob(id, namespace, image string) *api.Job {
	j := &api.Job{
		Type: ptr("service"),
		TaskGroups: []*api.TaskGroup{{
			Name:  ptr("g"),
			Count: ptr(1),
			Tasks: []*api.Task{{
				Name:   "t",
				Driver: "docker",
				Config: map[string]any{"image": image},
			}},
		}},
	}
	if id != "" {
		j.ID, j.Name = ptr(id), ptr(id)
	}
	if namespace != "" {
		j.Namespace = ptr(namespace)
	}
	return j
}

func ptr[T any](v T) *T { return &v }

// apiParser parses through the real Nomad API client, so its errors are the
// genuine api.UnexpectedResponseError values the loader must recognise.
type apiParser struct{ c *api.Client }

func (p apiParser) ParseJob(ctx context.Context, req *api.JobsParseRequest) (*api.Job, error) {
	var job api.Job
	if _, err := p.c.Raw().Write("/v1/jobs/parse", req, &job, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return nil, err
	}
	return &job, nil
}

// nomadParseServer stands in for /v1/jobs/parse: it answers every request
// whose job HCL contains a key of rejects with that status and body, and
// parses everything else like fakeParser.
func nomadParseServer(t *testing.T, rejects map[string]rejection) (*api.Client, *fakeParser) {
	t.Helper()
	fp := &fakeParser{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.JobsParseRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for marker, rej := range rejects {
			if strings.Contains(req.JobHCL, marker) {
				fp.mu.Lock()
				fp.calls = append(fp.calls, &req)
				fp.mu.Unlock()
				http.Error(w, rej.body, rej.status)
				return
			}
		}
		job, err := fp.ParseJob(r.Context(), &req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(job)
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatalf("api client: %v", err)
	}
	return c, fp
}

type rejection struct {
	status int
	body   string
}
