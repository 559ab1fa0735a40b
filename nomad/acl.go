package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// ProbeJobID names the job the capability probes plan, parse and read. No
// probe creates it: a plan is a dry run, a parse stores nothing, and the
// read expects a 404.
const ProbeJobID = "drover-check-probe"

// Version is the version of the Nomad agent drover talks to. It needs
// agent:read, which drover's policy does not grant: a 403 here says only
// that the version cannot be read.
func (c *Client) Version(ctx context.Context) (string, error) {
	// Raw: Agent().Self() flattens the error, and the caller must tell a
	// 403 from a failure.
	var self api.AgentSelf
	if _, err := c.api.Raw().Query("/v1/agent/self", &self, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return "", fmt.Errorf("read nomad agent: %w", err)
	}
	if self.Member.Tags != nil && self.Member.Tags["build"] != "" {
		return self.Member.Tags["build"], nil
	}
	if v, ok := self.Config["Version"].(map[string]any); ok {
		if s, ok := v["Version"].(string); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("nomad agent at %s did not say its version", c.api.Address())
}

// TokenSelf reads the token drover calls Nomad with.
func (c *Client) TokenSelf(ctx context.Context) (*api.ACLToken, error) {
	tok, _, err := c.api.ACLTokens().Self((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read own nomad token: %w", err)
	}
	return tok, nil
}

// PolicyRules returns the rules of every policy the token holds, directly,
// through its roles or, for a workload identity, bound to its job: Nomad
// lists exactly those for a token that is not a management token.
func (c *Client) PolicyRules(ctx context.Context) (map[string]string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	stubs, _, err := c.api.ACLPolicies().List(q)
	if err != nil {
		return nil, fmt.Errorf("list own nomad policies: %w", err)
	}
	out := make(map[string]string, len(stubs))
	for _, s := range stubs {
		p, _, err := c.api.ACLPolicies().Info(s.Name, q)
		if err != nil {
			return nil, fmt.Errorf("read nomad policy %q: %w", s.Name, err)
		}
		out[p.Name] = p.Rules
	}
	return out, nil
}

// Namespaces lists the namespaces the token may see.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	nss, _, err := c.api.Namespaces().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list nomad namespaces: %w", err)
	}
	out := make([]string, 0, len(nss))
	for _, ns := range nss {
		out = append(out, ns.Name)
	}
	return out, nil
}

// Probe asks Nomad whether the token has capability in namespace, by the
// cheapest call that needs it and changes nothing: a nil error is yes, an
// error IsForbidden is no. submit-job is probed with a plan, which
// plan-job alone would also pass.
func (c *Client) Probe(ctx context.Context, namespace, capability string) error {
	q := (&api.QueryOptions{Namespace: namespace}).WithContext(ctx)
	switch capability {
	case "list-jobs":
		q.PerPage, q.Prefix = 1, ProbeJobID
		_, _, err := c.api.Jobs().List(q)
		return err
	case "read-job":
		_, _, err := c.api.Jobs().Info(ProbeJobID, q)
		if IsNotFound(err) {
			return nil
		}
		return err
	case "parse-job":
		var job api.Job
		_, err := c.api.Raw().Write("/v1/jobs/parse", &api.JobsParseRequest{JobHCL: probeHCL}, &job, write(ctx, namespace))
		return err
	case "submit-job":
		_, _, err := c.api.Jobs().PlanOpts(probeJob(namespace), &api.PlanOptions{}, write(ctx, namespace))
		return err
	}
	return fmt.Errorf("no probe for nomad capability %q", capability)
}

// probeHCL is the smallest job file Nomad parses.
const probeHCL = `job "` + ProbeJobID + `" {
  group "g" {
    task "t" {
      driver = "raw_exec"
    }
  }
}`

// probeJob is the smallest job Nomad plans: a batch job that asks for
// little, so even a full cluster plans it without error.
func probeJob(namespace string) *api.Job {
	job := api.NewBatchJob(ProbeJobID, ProbeJobID, "", 0)
	job.Region = nil // the client's region
	job.Namespace = &namespace
	task := api.NewTask("t", "raw_exec").SetConfig("command", "true")
	task.Resources = &api.Resources{CPU: ptr(1), MemoryMB: ptr(1)}
	job.AddTaskGroup(api.NewTaskGroup("g", 1).AddTask(task))
	return job
}

func ptr[T any](v T) *T { return &v }
