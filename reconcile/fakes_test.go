package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// fakeCluster is a Cluster in memory. Configure it before Sync; it records
// every call and is safe for the engine's parallel jobs.
type fakeCluster struct {
	stubs   []*api.JobListStub
	jobsErr error
	// plans are returned by Plan per job ID; a job without one plans with
	// no changes at its stub's JobModifyIndex.
	plans map[string]*api.JobPlanResponse
	// planErr fails Plan per job ID.
	planErr map[string]error
	// registerErr fails Register per job ID.
	registerErr map[string]error
	// onPlan runs inside Plan, before it returns.
	onPlan func(job *api.Job)
	// onRegister runs inside Register, before it records the call.
	onRegister func(job *api.Job)
	// current is returned by Job per job ID; a job without one reads as
	// its ID and version 7.
	current map[string]*api.Job
	// unchanged answers Register per job ID as Nomad does for a spec it
	// already has: no write, an evaluation made after the job's index.
	unchanged map[string]bool
	// readErr fails Job (the read-back) per job ID.
	readErr map[string]error

	mu           sync.Mutex
	planned      []*api.Job
	registered   []registerCall
	deregistered []jobs.Key
	reads        []string
}

type registerCall struct {
	job  *api.Job
	opts *api.RegisterOptions
}

func (c *fakeCluster) Jobs(ctx context.Context) ([]*api.JobListStub, error) {
	return c.stubs, c.jobsErr
}

func (c *fakeCluster) Plan(ctx context.Context, job *api.Job) (*api.JobPlanResponse, error) {
	c.mu.Lock()
	c.planned = append(c.planned, job)
	c.mu.Unlock()
	if c.onPlan != nil {
		c.onPlan(job)
	}
	if err := c.planErr[*job.ID]; err != nil {
		return nil, err
	}
	if p, ok := c.plans[*job.ID]; ok {
		return p, nil
	}
	var index uint64
	for _, s := range c.stubs {
		if s.ID == *job.ID && s.Namespace == *job.Namespace {
			index = s.JobModifyIndex
		}
	}
	return &api.JobPlanResponse{JobModifyIndex: index, Diff: &api.JobDiff{Type: "None", ID: *job.ID}}, nil
}

func (c *fakeCluster) Register(ctx context.Context, job *api.Job, opts *api.RegisterOptions) (*api.JobRegisterResponse, error) {
	if c.onRegister != nil {
		c.onRegister(job)
	}
	c.mu.Lock()
	c.registered = append(c.registered, registerCall{job, opts})
	c.mu.Unlock()
	if err := c.registerErr[*job.ID]; err != nil {
		return nil, err
	}
	if c.unchanged[*job.ID] {
		return &api.JobRegisterResponse{EvalID: "eval-" + *job.ID, JobModifyIndex: opts.ModifyIndex + 1, EvalCreateIndex: opts.ModifyIndex + 2}, nil
	}
	index := opts.ModifyIndex + 100
	return &api.JobRegisterResponse{EvalID: "eval-" + *job.ID, JobModifyIndex: index, EvalCreateIndex: index}, nil
}

// Job reads a job back: version 7 at the index a register returned.
func (c *fakeCluster) Job(ctx context.Context, namespace, id string) (*api.Job, error) {
	if j, ok := c.current[id]; ok {
		return j, nil
	}
	c.mu.Lock()
	c.reads = append(c.reads, id)
	c.mu.Unlock()
	if err := c.readErr[id]; err != nil {
		return nil, err
	}
	var index uint64
	for _, r := range c.registrations()[id] {
		index = r.opts.ModifyIndex + 100
	}
	return &api.Job{ID: &id, Namespace: &namespace, Version: ptr(uint64(7)), JobModifyIndex: &index}, nil
}

func (c *fakeCluster) readIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reads)
}

func (c *fakeCluster) Deregister(ctx context.Context, namespace, id string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deregistered = append(c.deregistered, jobs.Key{Namespace: namespace, ID: id})
	return "eval-stop-" + id, nil
}

func (c *fakeCluster) plannedIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, j := range c.planned {
		out = append(out, *j.ID)
	}
	return out
}

// registrations returns the register calls by job ID.
func (c *fakeCluster) registrations() map[string][]registerCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]registerCall{}
	for _, r := range c.registered {
		out[*r.job.ID] = append(out[*r.job.ID], r)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// jobFile is a loaded job file for job id in the default namespace.
func jobFile(t testing.TB, id, image string) *jobs.File {
	t.Helper()
	job := &api.Job{
		ID:        ptr(id),
		Name:      ptr(id),
		Namespace: ptr("default"),
		Type:      ptr("service"),
		TaskGroups: []*api.TaskGroup{{
			Name:  ptr("g"),
			Count: ptr(1),
			Tasks: []*api.Task{{Name: "t", Driver: "docker", Config: map[string]any{"image": image}}},
		}},
	}
	fp, err := jobs.Fingerprint(job)
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("job %q { image = %q }", id, image)
	return &jobs.File{
		Path:        id + ".nomad",
		Source:      []byte(src),
		Job:         job,
		Fingerprint: fp,
		Submission:  &api.JobSubmission{Source: src, Format: "hcl2"},
	}
}

func brokenFile(path string) *jobs.File {
	return &jobs.File{Path: path, Err: &jobs.ParseError{Path: path, Line: 3, Msg: path + ":3,1-2: Unsupported argument"}}
}

// stub is a running service job in the default namespace.
func stub(id string, index uint64, meta map[string]string) *api.JobListStub {
	return &api.JobListStub{
		ID: id, Name: id, Namespace: "default", Type: "service", Status: "running",
		JobModifyIndex: index, Meta: meta,
	}
}

// owned is drover meta as instance "drover" writes it.
func owned(path, commit, fingerprint string) map[string]string {
	return map[string]string{
		jobs.MetaManaged:     "true",
		jobs.MetaInstance:    DefaultInstance,
		jobs.MetaPath:        path,
		jobs.MetaCommit:      commit,
		jobs.MetaFingerprint: fingerprint,
	}
}

// changedPlan is a plan that finds one changed field.
func changedPlan(id string, index uint64) *api.JobPlanResponse {
	return &api.JobPlanResponse{
		JobModifyIndex: index,
		Diff: &api.JobDiff{Type: "Edited", ID: id, TaskGroups: []*api.TaskGroupDiff{{
			Type: "Edited", Name: "g",
			Fields: []*api.FieldDiff{{Type: "Edited", Name: "Count", Old: "1", New: "2"}},
		}}},
	}
}

func newEngine(c Cluster, opts Options) *Engine {
	opts.Logger = zerolog.Nop()
	return New(c, opts)
}

func resultsByID(r *Report) map[string]*JobResult {
	out := map[string]*JobResult{}
	for _, j := range r.Jobs {
		out[j.ID] = j
	}
	return out
}

// unexpectedResponse returns the error the real Nomad API client gives for
// an HTTP answer with status and body.
func unexpectedResponse(t *testing.T, status int, body string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, body, status)
	}))
	defer srv.Close()
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Jobs().Register(&api.Job{ID: ptr("x")}, nil)
	if _, ok := err.(api.UnexpectedResponseError); !ok {
		t.Fatalf("api client returned %T (%v), want api.UnexpectedResponseError", err, err)
	}
	return err
}
