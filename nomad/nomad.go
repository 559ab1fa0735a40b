// Package nomad adapts *api.Client to the narrow interfaces drover's engine
// and job loader declare, adding a context to every call.
package nomad

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"net/http"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/secretfile"
	"github.com/hashicorp/nomad/api"
)

// Client is the Nomad API as drover uses it.
type Client struct {
	api  *api.Client
	list jobList
	// namespace is where calls naming none go (NOMAD_NAMESPACE), for
	// the messages of refused calls.
	namespace string
}

// jobList is the last full job list and the index Nomad gave it. The
// list's index moves with every write to any job or job summary, so while
// it stands still the list is the same: a cycle then reads one stub (the
// probe) instead of decoding every job's, which at a thousand jobs is most
// of a quiet cycle's CPU. The cluster watch's lists feed it too, so the
// cycle a change triggers finds the list the watch just read.
type jobList struct {
	mu    sync.Mutex
	index uint64
	stubs []*api.JobListStub
}

func (l *jobList) get() ([]*api.JobListStub, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stubs, l.index
}

func (l *jobList) set(stubs []*api.JobListStub, index uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stubs, l.index = stubs, index
}

// New returns a client configured the standard way: NOMAD_ADDR,
// NOMAD_TOKEN, NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_CACERT, NOMAD_CLIENT_CERT…
func New(opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := api.DefaultConfig()
	wrap := o.wrapTransport
	if o.tokenFile != "" {
		token, err := secretfile.Open(o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("nomad token: %w", err)
		}
		cfg.SecretID = ""
		outer := wrap
		wrap = func(rt http.RoundTripper) http.RoundTripper {
			rt = &secretfile.Transport{Next: rt, Header: "X-Nomad-Token", Secret: token}
			if outer != nil {
				rt = outer(rt)
			}
			return rt
		}
	}
	if wrap != nil {
		hc, err := httpClient(cfg, wrap)
		if err != nil {
			return nil, fmt.Errorf("nomad client: %w", err)
		}
		cfg.HttpClient = hc
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("nomad client: %w", err)
	}
	return &Client{api: c, namespace: namespaceOr(cfg.Namespace)}, nil
}

// Wrap adapts an existing API client.
func Wrap(c *api.Client) *Client { return &Client{api: c, namespace: "default"} }

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// Address is the configured HTTP address, for logs.
func (c *Client) Address() string { return c.api.Address() }

// ParseJob calls /v1/jobs/parse.
func (c *Client) ParseJob(ctx context.Context, req *api.JobsParseRequest) (*api.Job, error) {
	var job api.Job
	if _, err := c.api.Raw().Write("/v1/jobs/parse", req, &job, write(ctx, "")); err != nil {
		return nil, refused(err, "parse-job", c.namespace)
	}
	return &job, nil
}

// Jobs lists every namespace's jobs with their meta. The stubs may be
// shared with earlier and later calls: callers must not modify them.
func (c *Client) Jobs(ctx context.Context) ([]*api.JobListStub, error) {
	if cached, index := c.list.get(); index != 0 {
		_, probe, err := c.listJobs(ctx, &api.QueryOptions{PerPage: 1})
		// A failed probe is no verdict; the full list below says why.
		if err == nil && probe == index {
			return cached, nil
		}
	}
	stubs, index, err := c.listJobs(ctx, &api.QueryOptions{})
	if err != nil {
		return nil, err
	}
	c.list.set(stubs, index)
	return stubs, nil
}

func (c *Client) listJobs(ctx context.Context, q *api.QueryOptions) ([]*api.JobListStub, uint64, error) {
	q.Namespace = api.AllNamespacesNamespace
	stubs, meta, err := c.api.Jobs().ListOptions(&api.JobListOptions{Fields: &api.JobListFields{Meta: true}}, q.WithContext(ctx))
	if err != nil {
		return nil, 0, refused(err, "list-jobs", api.AllNamespacesNamespace)
	}
	return stubs, meta.LastIndex, nil
}

// WatchJobs is Jobs as a blocking query: Nomad answers once its job index
// is past index (any job written, or a job's status or allocation summary
// changed), or after wait. It returns the index to wait on next.
func (c *Client) WatchJobs(ctx context.Context, index uint64, wait time.Duration) ([]*api.JobListStub, uint64, error) {
	stubs, next, err := c.listJobs(ctx, &api.QueryOptions{WaitIndex: index, WaitTime: wait})
	if err != nil {
		return nil, 0, fmt.Errorf("watch jobs at index %d: %w", index, err)
	}
	c.list.set(stubs, next)
	return stubs, next, nil
}

// JobEvents streams the Job topic of every namespace the token can read
// from index on; see Events for what a stream promises.
func (c *Client) JobEvents(ctx context.Context, index uint64) (<-chan *api.Events, error) {
	topics := map[api.Topic][]string{api.TopicJob: {"*"}}
	ch, err := c.api.EventStream().Stream(ctx, topics, index, &api.QueryOptions{Namespace: api.AllNamespacesNamespace})
	if err != nil {
		return nil, fmt.Errorf("stream job events from index %d: %w", index, refused(err, "read-job", api.AllNamespacesNamespace))
	}
	return ch, nil
}

// Plan dry-runs job with a diff against the registered version.
func (c *Client) Plan(ctx context.Context, job *api.Job) (*api.JobPlanResponse, error) {
	resp, _, err := c.api.Jobs().PlanOpts(job, &api.PlanOptions{Diff: true}, write(ctx, deref(job.Namespace)))
	return resp, refused(err, "submit-job", c.ns(job.Namespace))
}

// Register submits job.
func (c *Client) Register(ctx context.Context, job *api.Job, opts *api.RegisterOptions) (*api.JobRegisterResponse, error) {
	resp, _, err := c.api.Jobs().RegisterOpts(job, opts, write(ctx, deref(job.Namespace)))
	return resp, refused(err, "submit-job", c.ns(job.Namespace))
}

// Job reads one job.
func (c *Client) Job(ctx context.Context, namespace, id string) (*api.Job, error) {
	job, _, err := c.api.Jobs().Info(id, (&api.QueryOptions{Namespace: namespace}).WithContext(ctx))
	return job, refused(err, "read-job", c.ns(&namespace))
}

// Events streams the allocation and deployment events of the jobs named
// (by ID, in every namespace the token can read) from index on: Nomad's
// event stream filtered on the server by job ID, which both topics carry
// among their filter keys. It returns once Nomad has answered the
// request; the channel closes when ctx ends, after a batch with Err when
// the stream fails. Heartbeats are dropped by the API client.
//
// Nomad starts a stream whose index has left its event buffer (100
// batches by default) at the oldest batch it still has, without saying
// so: callers must not take a resumed stream for a complete one.
func (c *Client) Events(ctx context.Context, jobIDs []string, index uint64) (<-chan *api.Events, error) {
	topics := map[api.Topic][]string{api.TopicAllocation: jobIDs, api.TopicDeployment: jobIDs}
	ch, err := c.api.EventStream().Stream(ctx, topics, index, &api.QueryOptions{Namespace: api.AllNamespacesNamespace})
	if err != nil {
		return nil, fmt.Errorf("stream events of %d jobs from index %d: %w", len(jobIDs), index, refused(err, "read-job", api.AllNamespacesNamespace))
	}
	return ch, nil
}

// JobStatus reads one job's allocations and deployments, and the larger
// of the two answers' indexes. It costs the job's own objects, not the
// cluster's.
func (c *Client) JobStatus(ctx context.Context, namespace, id string) ([]*api.AllocationListStub, []*api.Deployment, uint64, error) {
	q := (&api.QueryOptions{Namespace: namespace}).WithContext(ctx)
	allocs, am, err := c.api.Jobs().Allocations(id, true, q)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read allocations of job %q: %w", id, refused(err, "read-job", c.ns(&namespace)))
	}
	deps, dm, err := c.api.Jobs().Deployments(id, true, q)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read deployments of job %q: %w", id, refused(err, "read-job", c.ns(&namespace)))
	}
	return allocs, deps, max(am.LastIndex, dm.LastIndex), nil
}

// Deregister stops a job, keeping it for `nomad job status` and a revert.
func (c *Client) Deregister(ctx context.Context, namespace, id string) (string, error) {
	evalID, _, err := c.api.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: false}, write(ctx, namespace))
	return evalID, refused(err, "submit-job", c.ns(&namespace))
}

// Leader checks that the cluster answers and has a leader.
func (c *Client) Leader(ctx context.Context) error {
	var leader string
	_, err := c.api.Raw().Query("/v1/status/leader", &leader, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("nomad at %s: %w", c.api.Address(), checked(err))
	}
	if leader == "" {
		return fmt.Errorf("nomad at %s has no leader", c.api.Address())
	}
	return nil
}

// IsNotFound reports whether err is Nomad's 404.
func IsNotFound(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == http.StatusNotFound
}

// IsForbidden reports whether err is Nomad's 403: the token lacks a
// permission, which retrying will not grant.
func IsForbidden(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == http.StatusForbidden
}

// checked marks Nomad's 403 as a failure.Stall: the token lacks a
// permission, which retrying will not grant. Every call's error goes
// through it.
func checked(err error) error {
	if !IsForbidden(err) {
		return err
	}
	return &failure.Stall{What: "permission denied by Nomad", Fix: "check NOMAD_TOKEN's ACL policy", Err: err}
}

// refused marks Nomad's 403 to a call that needs capability in
// namespace as a failure.Stall naming both, with the policy line that
// grants it: the same words `drover check` prints.
func refused(err error, capability, namespace string) error {
	if !IsForbidden(err) {
		return err
	}
	return &failure.Stall{
		What: fmt.Sprintf("Nomad token lacks %s in namespace %q", capability, namespace),
		Fix:  fmt.Sprintf("add to its policy: namespace %q { capabilities = [%q] }", namespace, capability),
		Err:  fmt.Errorf("%w: the token lacks %s in namespace %q", err, capability, namespace),
	}
}

// ns is the namespace a call for a job in namespace goes to: the
// client's when the job names none.
func (c *Client) ns(namespace *string) string {
	if namespace == nil || *namespace == "" {
		return c.namespace
	}
	return *namespace
}

func write(ctx context.Context, namespace string) *api.WriteOptions {
	return (&api.WriteOptions{Namespace: namespace}).WithContext(ctx)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
