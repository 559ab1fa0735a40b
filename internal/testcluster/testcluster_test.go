package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// TestCluster_RunsJobsAndStopsCleanly starts one cluster and runs
// everything that needs it in order, because a cluster start costs seconds
// of CPU and the steps build on each other.
func TestCluster_RunsJobsAndStopsCleanly(t *testing.T) {
	helloBin := buildHello(t)

	start := time.Now()
	c := StartT(t)
	t.Logf("cluster ready in %s: Nomad %s, Consul %s", time.Since(start).Round(time.Millisecond), c.NomadAddr(), c.ConsulAddr())
	c.mu.Lock()
	nomadPID := c.nomad.pid()
	c.mu.Unlock()
	consulPID := c.consul.lastProcess().pid()

	if want := []string{"NOMAD_ADDR=" + c.NomadAddr(), "CONSUL_HTTP_ADDR=" + c.ConsulAddr()}; fmt.Sprint(c.Env()) != fmt.Sprint(want) {
		t.Errorf("Env() = %v, want %v", c.Env(), want)
	}

	ok := t.Run("mock_driver job runs", func(t *testing.T) {
		job := nomadapi.NewServiceJob("mock", "mock", "global", 50)
		task := nomadapi.NewTask("t", "mock_driver").SetConfig("run_for", "1h")
		task.Resources = &nomadapi.Resources{CPU: ptr(10), MemoryMB: ptr(16)}
		job.AddTaskGroup(nomadapi.NewTaskGroup("g", 1).AddTask(task))
		if _, _, err := c.Nomad().Jobs().Register(job, nil); err != nil {
			t.Fatalf("register: %v", err)
		}
		waitAllocRunning(t, c.Nomad(), "mock")
	})

	var helloURL string
	ok = ok && t.Run("hello job from file passes its Consul check", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", "jobs", "hello.nomad.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		job, err := c.Nomad().Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{
			JobHCL:       string(src),
			Variables:    fmt.Sprintf("hello_bin = %q\n", helloBin),
			Canonicalize: true,
		})
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if _, _, err := c.Nomad().Jobs().Register(job, nil); err != nil {
			t.Fatalf("register: %v", err)
		}
		waitDeploymentSuccessful(t, c.Nomad(), "hello")
		helloURL = waitServicePassing(t, c.Consul(), "hello")
		if got := httpGet(t, helloURL+"/"); got != "hello from hello 1.0.0\n" {
			t.Errorf("GET / = %q", got)
		}
	})

	t.Run("docker example parses", func(t *testing.T) {
		// Only the parse: there is no docker here. It still catches HCL and
		// schema mistakes in the example real clusters would run.
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", "docker", "hello.nomad.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		job, err := c.Nomad().Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{
			JobHCL:    string(src),
			Variables: `image = "example.com/hello:1.0.0"` + "\n",
		})
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		task := job.TaskGroups[0].Tasks[0]
		if task.Driver != "docker" || task.Config["image"] != "example.com/hello:1.0.0" {
			t.Errorf("task = driver %q config %v", task.Driver, task.Config)
		}
	})

	ok = ok && t.Run("Consul restarts on the same ports and Nomad re-registers", func(t *testing.T) {
		if err := c.StopConsul(); err != nil {
			t.Fatalf("stop consul: %v", err)
		}
		if _, err := c.Consul().Status().Leader(); err == nil {
			t.Fatal("consul still answering after StopConsul")
		}
		if err := c.StartConsul(t.Context()); err != nil {
			t.Fatalf("start consul: %v", err)
		}
		restarted := time.Now()
		waitServicePassing(t, c.Consul(), "hello")
		t.Logf("hello passing again %s after Consul restart", time.Since(restarted).Round(time.Millisecond))
	})

	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for name, pid := range map[string]int{"nomad": nomadPID, "consul": consulPID} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s pid %d still exists after Stop (kill 0: %v)", name, pid, err)
		}
	}
	// Nomad in dev mode stops its allocations on a clean shutdown; a hello
	// still answering would hold its port for whatever runs next.
	if ok && helloURL != "" {
		if resp, err := http.Get(helloURL + "/"); err == nil {
			resp.Body.Close()
			t.Errorf("hello at %s still answering after Stop", helloURL)
		}
	}
}

func TestStart_MissingBinaryFailsWithHint(t *testing.T) {
	_, err := Start(t.Context(), Options{NomadBin: filepath.Join(t.TempDir(), "nomad"), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "DROVER_NOMAD_BIN") {
		t.Fatalf("err = %v, want a hint naming DROVER_NOMAD_BIN", err)
	}
}

func TestStart_AgentExitingQuotesItsLog(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "consul")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'bind: address in use by a test'\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, logOutput := range []io.Writer{nil, &bytes.Buffer{}} {
		_, err := Start(t.Context(), Options{ConsulBin: fake, Dir: t.TempDir(), LogOutput: logOutput})
		if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "address in use by a test") {
			t.Errorf("LogOutput %T: err = %v, want the exit status and the log line", logOutput, err)
		}
		if b, ok := logOutput.(*bytes.Buffer); ok && !strings.Contains(b.String(), "consul: bind: address in use by a test\n") {
			t.Errorf("LogOutput got %q, want the prefixed line", b.String())
		}
	}
}

func buildHello(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./examples/hello")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/hello: %v\n%s", err, out)
	}
	return bin
}

// waitAllocRunning waits, with blocking queries, for an allocation of job to
// run, failing fast if one fails.
func waitAllocRunning(t *testing.T, nc *nomadapi.Client, job string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var index uint64
	var last []*nomadapi.AllocationListStub
	for ctx.Err() == nil {
		allocs, meta, err := nc.Jobs().Allocations(job, false, (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx))
		if err != nil {
			continue
		}
		index, last = meta.LastIndex, allocs
		for _, a := range allocs {
			switch a.ClientStatus {
			case nomadapi.AllocClientStatusRunning:
				return
			case nomadapi.AllocClientStatusFailed:
				t.Fatalf("allocation %s failed: %s", a.ID, describeTaskStates(a.TaskStates))
			}
		}
	}
	t.Fatalf("no running allocation of %s: %s", job, describeAllocs(last))
}

// waitDeploymentSuccessful waits for the job's latest deployment, which with
// the default health_check = "checks" means its Consul checks passed.
func waitDeploymentSuccessful(t *testing.T, nc *nomadapi.Client, job string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var index uint64
	var last *nomadapi.Deployment
	for ctx.Err() == nil {
		d, meta, err := nc.Jobs().LatestDeployment(job, (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx))
		if err != nil {
			continue
		}
		index, last = meta.LastIndex, d
		if d == nil {
			continue
		}
		switch d.Status {
		case nomadapi.DeploymentStatusSuccessful:
			return
		case nomadapi.DeploymentStatusFailed, nomadapi.DeploymentStatusCancelled:
			allocs, _, _ := nc.Jobs().Allocations(job, false, nil)
			t.Fatalf("deployment %s %s: %s; allocations: %s", d.ID, d.Status, d.StatusDescription, describeAllocs(allocs))
		}
	}
	allocs, _, _ := nc.Jobs().Allocations(job, false, nil)
	t.Fatalf("deployment of %s not successful in time (last %+v); allocations: %s", job, last, describeAllocs(allocs))
}

// waitServicePassing waits for a passing instance of service in Consul and
// returns its base URL.
func waitServicePassing(t *testing.T, cc *consulapi.Client, service string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var index uint64
	for ctx.Err() == nil {
		q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
		entries, meta, err := cc.Health().Service(service, "", true, q)
		if err != nil {
			// Right after a restart the agent may refuse briefly; do not spin.
			time.Sleep(200 * time.Millisecond)
			index = 0
			continue
		}
		// Consul's index restarts from scratch with a restarted dev agent;
		// a lower index means "start over", not "wait for that".
		if meta.LastIndex < index {
			index = 0
		} else {
			index = meta.LastIndex
		}
		if len(entries) > 0 {
			s := entries[0].Service
			return fmt.Sprintf("http://%s:%d", s.Address, s.Port)
		}
	}
	checks, _, _ := cc.Health().Checks(service, nil)
	var b strings.Builder
	for _, ch := range checks {
		fmt.Fprintf(&b, "\n  %s %s: %s", ch.Name, ch.Status, ch.Output)
	}
	t.Fatalf("no passing %s instance in Consul; checks:%s", service, b.String())
	return ""
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func describeAllocs(allocs []*nomadapi.AllocationListStub) string {
	if len(allocs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, a := range allocs {
		fmt.Fprintf(&b, "\n  %s %s/%s: %s", a.ID[:8], a.DesiredStatus, a.ClientStatus, describeTaskStates(a.TaskStates))
	}
	return b.String()
}

func describeTaskStates(states map[string]*nomadapi.TaskState) string {
	var b strings.Builder
	for name, s := range states {
		fmt.Fprintf(&b, "task %s %s [", name, s.State)
		for _, e := range s.Events {
			fmt.Fprintf(&b, " %s: %s;", e.Type, e.DisplayMessage)
		}
		b.WriteString(" ] ")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
