package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/drover-dev/drover/internal/testutil"
	"github.com/hashicorp/nomad/api"
)

// TestSecured_DroverAsANomadJobWithWorkloadIdentity runs drover the way
// examples/drover.nomad.hcl does, on a cluster with ACLs on: as a Nomad
// job whose Nomad token is the task's workload identity, with the example
// policy bound to the job, and its Consul token rendered from a Nomad
// variable into a file. The spec is the example's, parsed by Nomad, with
// what a test machine has instead: raw_exec and the built binary for the
// docker image, one replica on the one node, loopback addresses. It
// deploys a second job from a repository.
func TestSecured_DroverAsANomadJobWithWorkloadIdentity(t *testing.T) {
	s := startSecured(t, testcluster.Options{ACL: true})
	ctx := t.Context()
	nc := s.c.Nomad()

	_, consulToken, err := s.c.ConsulToken(ctx, "drover", examplePolicy(t, "consul-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	// `nomad acl policy apply -namespace default -job drover`.
	if _, err := nc.ACLPolicies().Upsert(&api.ACLPolicy{
		Name: "drover", Rules: examplePolicy(t, "nomad-policy.hcl"),
		JobACL: &api.JobACL{Namespace: "default", JobID: "drover"},
	}, nil); err != nil {
		t.Fatalf("bind the policy to the job: %v", err)
	}
	// `nomad var put nomad/jobs/drover consul_token=…`.
	if _, _, err := nc.Variables().Create(&api.Variable{Path: "nomad/jobs/drover", Items: api.VariableItems{
		"consul_token": consulToken, "git_token": "", "webhook_secret": "", "api_token": "",
	}}, nil); err != nil {
		t.Fatalf("nomad var put: %v", err)
	}

	const id = "wi-hello"
	r := newRepo(t)
	r.commit("hello", map[string]string{id + ".nomad.hcl": helloJob(id, "1.0.0")})

	src, err := os.ReadFile(filepath.Join("..", "examples", "drover.nomad.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	job, err := nc.Jobs().ParseHCLOpts(&api.JobsParseRequest{
		JobHCL:    string(src),
		Variables: fmt.Sprintf("repo = %q\nimage = \"unused\"\n", r.dir),
	})
	if err != nil {
		t.Fatalf("parse the example: %v", err)
	}
	tg := job.TaskGroups[0]
	tg.Count = pointerTo(1)
	tg.Constraints = nil
	tg.Networks[0].DynamicPorts[0].To = 0
	task := tg.Tasks[0]
	if task.Identity == nil || !task.Identity.File {
		t.Fatalf("the example's task does not write its workload identity to a file: %+v", task.Identity)
	}
	args := task.Config["args"]
	task.Driver = "raw_exec"
	task.Config = map[string]any{"command": env.drover, "args": args}
	for k, v := range map[string]string{
		"NOMAD_ADDR":       s.c.NomadAddr(),
		"CONSUL_HTTP_ADDR": s.c.ConsulAddr(),
		"DROVER_LISTEN":    "127.0.0.1:${NOMAD_PORT_http}",
		"DROVER_ADVERTISE": "http://127.0.0.1:${NOMAD_PORT_http}",
		"DROVER_INTERVAL":  "5s",
		"DROVER_VAR":       "hello_bin=" + env.hello,
		"DROVER_LOG_LEVEL": "debug",
	} {
		task.Env[k] = v
	}
	task.Resources.MemoryMB = pointerTo(256)
	if _, _, err := nc.Jobs().Register(job, nil); err != nil {
		t.Fatalf("register drover as a job: %v", err)
	}

	testutil.WaitFor(t, 2*time.Minute, "drover, running as a job, deploys "+id, func() (bool, string) {
		j, _, err := nc.Jobs().Info(id, nil)
		if err != nil {
			return false, droverTaskLog(t, nc) + err.Error()
		}
		return j.Meta["drover.commit"] != "", "registered without drover meta"
	})
	testutil.WaitFor(t, 90*time.Second, id+" running", func() (bool, string) {
		allocs, _, err := nc.Jobs().Allocations(id, false, nil)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d allocations, none running", len(allocs))
	})
	if log := droverTaskLog(t, nc); strings.Contains(log, "Permission denied") || strings.Contains(log, "response code: 403") {
		t.Errorf("drover was refused a call:\n%s", log)
	}
}

// droverTaskLog is the stderr of the drover job's task, for a failure.
func droverTaskLog(t *testing.T, nc *api.Client) string {
	allocs, _, err := nc.Jobs().Allocations("drover", false, nil)
	if err != nil || len(allocs) == 0 {
		return fmt.Sprintf("(no drover allocation: %v)\n", err)
	}
	alloc, _, err := nc.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		return fmt.Sprintf("(alloc: %v)\n", err)
	}
	rc, err := nc.AllocFS().Cat(alloc, "alloc/logs/drover.stderr.0", nil)
	if err != nil {
		return fmt.Sprintf("(log: %v; task states %v)\n", err, taskStates(alloc))
	}
	defer rc.Close()
	b := make([]byte, 64<<10)
	n, _ := rc.Read(b)
	return string(b[:n])
}

func taskStates(a *api.Allocation) string {
	var out []string
	for name, st := range a.TaskStates {
		for _, e := range st.Events {
			out = append(out, name+": "+e.Type+" "+e.DisplayMessage)
		}
	}
	return strings.Join(out, "; ")
}

func pointerTo[T any](v T) *T { return &v }
