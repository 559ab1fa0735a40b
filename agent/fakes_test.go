package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/reconcile"
	"github.com/hashicorp/nomad/api"
	"github.com/rs/zerolog"
)

// fakeNomad is a cluster in memory with a job index that blocking queries
// wait on, the way Nomad's does. It is the engine's Cluster, the watch's
// JobWatcher and the loader's Parser.
type fakeNomad struct {
	mu    sync.Mutex
	index uint64
	jobs  map[string]*api.JobListStub
	// changed is closed and replaced whenever index moves.
	changed chan struct{}
	// drifting jobs plan with a change every time, even right after a
	// register: a spec the cluster normalises differently from git.
	drifting map[string]bool
	// watchErrs fail the next watch queries, in order.
	watchErrs []error

	plans, registers, watches int
	// streams are the job event subscriptions handed out.
	streams []chan *api.Events
}

func newFakeNomad() *fakeNomad {
	return &fakeNomad{jobs: map[string]*api.JobListStub{}, changed: make(chan struct{}), index: 1}
}

// write changes job id the way any register does; needs n.mu held.
func (n *fakeNomad) write(id string, meta map[string]string) uint64 {
	n.index++
	s, ok := n.jobs[id]
	if !ok {
		s = &api.JobListStub{ID: id, Name: id, Namespace: "default", Type: "service", Status: "running"}
		n.jobs[id] = s
	}
	s.JobModifyIndex = n.index
	if meta != nil {
		s.Meta = meta
	}
	n.publish(s)
	close(n.changed)
	n.changed = make(chan struct{})
	return n.index
}

// handEdit changes a job outside drover.
func (n *fakeNomad) handEdit(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.write(id, nil)
}

func (n *fakeNomad) counts() (plans, registers int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.plans, n.registers
}

func (n *fakeNomad) list() []*api.JobListStub {
	out := make([]*api.JobListStub, 0, len(n.jobs))
	for _, s := range n.jobs {
		c := *s
		out = append(out, &c)
	}
	return out
}

func (n *fakeNomad) Jobs(ctx context.Context) ([]*api.JobListStub, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.list(), nil
}

func (n *fakeNomad) WatchJobs(ctx context.Context, index uint64, wait time.Duration) ([]*api.JobListStub, uint64, error) {
	n.mu.Lock()
	n.watches++
	if len(n.watchErrs) > 0 {
		err := n.watchErrs[0]
		n.watchErrs = n.watchErrs[1:]
		n.mu.Unlock()
		return nil, 0, err
	}
	for n.index <= index {
		changed := n.changed
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-changed:
		case <-time.After(wait):
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.list(), n.index, nil
		}
		n.mu.Lock()
	}
	defer n.mu.Unlock()
	return n.list(), n.index, nil
}

// JobEvents hands out a subscription that each write feeds.
func (n *fakeNomad) JobEvents(ctx context.Context, index uint64) (<-chan *api.Events, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch := make(chan *api.Events, 1024)
	n.streams = append(n.streams, ch)
	return ch, nil
}

// publish sends a job event for s, through JSON as on the wire; needs
// n.mu held.
func (n *fakeNomad) publish(s *api.JobListStub) {
	batch := &api.Events{Index: n.index, Events: []api.Event{stubEvent(s, false)}}
	for _, ch := range n.streams {
		select {
		case ch <- batch:
		default:
		}
	}
}

func (n *fakeNomad) Plan(ctx context.Context, job *api.Job) (*api.JobPlanResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.plans++
	s, ok := n.jobs[*job.ID]
	switch {
	case !ok:
		return &api.JobPlanResponse{Diff: &api.JobDiff{Type: "Added", ID: *job.ID}}, nil
	case n.drifting[*job.ID] || s.Meta[jobs.MetaFingerprint] != job.Meta[jobs.MetaFingerprint]:
		return &api.JobPlanResponse{JobModifyIndex: s.JobModifyIndex, Diff: &api.JobDiff{Type: "Edited", ID: *job.ID,
			Fields: []*api.FieldDiff{{Type: "Edited", Name: "Priority", Old: "50", New: "60"}}}}, nil
	}
	return &api.JobPlanResponse{JobModifyIndex: s.JobModifyIndex, Diff: &api.JobDiff{Type: "None", ID: *job.ID}}, nil
}

func (n *fakeNomad) Register(ctx context.Context, job *api.Job, opts *api.RegisterOptions) (*api.JobRegisterResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.registers++
	index := n.write(*job.ID, job.Meta)
	return &api.JobRegisterResponse{EvalID: "eval", JobModifyIndex: index}, nil
}

func (n *fakeNomad) Job(ctx context.Context, namespace, id string) (*api.Job, error) {
	return &api.Job{ID: &id}, nil
}

func (n *fakeNomad) Deregister(ctx context.Context, namespace, id string) (string, error) {
	return "", nil
}

// ParseJob reads "job = id" from the source.
func (n *fakeNomad) ParseJob(ctx context.Context, req *api.JobsParseRequest) (*api.Job, error) {
	id := strings.TrimSpace(strings.TrimPrefix(req.JobHCL, "job ="))
	ns, typ := "default", "service"
	return &api.Job{ID: &id, Name: &id, Namespace: &ns, Type: &typ}, nil
}

// tree is one commit of job files.
type tree struct {
	rev   string
	files map[string]string
}

func (t tree) Revision() string { return t.rev }

func (t tree) Files() ([]string, error) {
	var out []string
	for p := range t.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func (t tree) ReadFile(p string) ([]byte, error) {
	src, ok := t.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(src), nil
}

// repoOf is a commit with one job file per id.
func repoOf(ids ...string) tree {
	t := tree{rev: "c1", files: map[string]string{}}
	for _, id := range ids {
		t.files[id+".nomad"] = "job = " + id
	}
	return t
}

// logBuffer collects an agent's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// events returns the logged events named name.
func (b *logBuffer) events(name string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// runningAgent is an agent over a fakeNomad, watching it, with an interval
// long enough that every cycle after the first comes from the watch.
type runningAgent struct {
	*Agent
	nomad *fakeNomad
	log   *logBuffer
	stop  func()
}

func startWatchingAgent(t *testing.T, n *fakeNomad, repo tree, opts Options) *runningAgent {
	t.Helper()
	opts.Watch = n
	return startAgentOver(t, n, repo, opts)
}

func startAgentOver(t *testing.T, n *fakeNomad, repo tree, opts Options) *runningAgent {
	t.Helper()
	log := &logBuffer{}
	opts.Logger = zerolog.New(log)
	opts.Interval = time.Hour
	opts.Listen = "-"
	if opts.WatchDebounce == 0 {
		opts.WatchDebounce = 20 * time.Millisecond
	}
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return repo, nil },
		&jobs.Loader{Parser: n}, reconcile.New(n, reconcile.Options{Apply: true, Logger: opts.Logger}), nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return &runningAgent{Agent: a, nomad: n, log: log, stop: stop}
}

// cycles is how many cycles have finished.
func (r *runningAgent) cycles() int { return len(r.log.events("sync.done")) }

// waitFor polls cond until it holds; the bound is generous, never a
// performance threshold.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *runningAgent) describe() string {
	p, reg := r.nomad.counts()
	return fmt.Sprintf("%d cycles, %d plans, %d registers", r.cycles(), p, reg)
}

// runnerOver is the parts of a lone agent: a cycle runner over a source, a
// loader and an engine, without rollouts.
func runnerOver(src cycle.SourceFunc, loader *jobs.Loader, engine *reconcile.Engine, m *metrics.Metrics) TermFunc {
	return Fixed(cycle.New(cycle.Parts{Sources: []cycle.NamedSource{{Source: src, Loader: loader}}, Engine: engine}, cycle.Options{Metrics: m}), nil)
}
