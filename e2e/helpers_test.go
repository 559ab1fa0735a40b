package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
	"github.com/hashicorp/nomad/api"
)

// repo is a git repository on disk that a test commits job files to.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com"}, args...)...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write sets files (path → content; "" deletes) and commits them,
// returning the new commit's SHA.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.dir, p)
		if content == "" {
			if err := os.Remove(full); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// helloJob is a job file running the example service under raw_exec with a
// Consul HTTP check, the way the demo does.
func helloJob(id, version string) string {
	return helloSpec(id, "", "var.hello_bin", fmt.Sprintf(`["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", %q]`, version))
}

// helloSpec is the hello job with an optional update block (indented, with
// its newline), the task's command and its args, both HCL expressions.
// The check's timeout is generous on purpose: on a loaded 2-core machine
// the example can take over a second to answer, and one timed-out check
// during a bake fails a good rollout. The bad variants answer 500 (or do
// not start), so no test relies on a check timing out.
func helloSpec(id, update, command, args string) string {
	return fmt.Sprintf(`job %q {
%s  group "web" {
    network {
      port "http" {}
    }
    service {
      name     = %q
      port     = "http"
      provider = "consul"
      check {
        type     = "http"
        path     = "/health"
        interval = "1s"
        timeout  = "5s"
      }
    }
    task "hello" {
      driver = "raw_exec"
      config {
        command = %s
        args    = %s
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}

variable "hello_bin" {
  type = string
}
`, id, update, id, command, args)
}

// run is one finished drover command.
type run struct {
	code           int
	stdout, stderr string
}

// events returns the JSON log lines of stderr whose event is name.
func (r run) events(name string) []map[string]any {
	return testutil.EventsIn(r.stderr, name)
}

// drover runs the binary to completion with the cluster's environment.
func drover(t *testing.T, args ...string) run {
	t.Helper()
	return droverWith(t, nil, args...)
}

// droverWith runs the binary with extra environment variables, which win
// over the cluster's.
func droverWith(t *testing.T, extraEnv []string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.drover, args...)
	cmd.Env = append(droverEnv(t), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && r.code < 0 {
		t.Fatalf("drover %s: %v\n%s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

func droverEnv(t *testing.T) []string {
	e := append(os.Environ(), env.cluster.Env()...)
	return append(e,
		"DROVER_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"DROVER_VAR=hello_bin="+env.hello,
		"DROVER_LOG_LEVEL=debug",
	)
}

// syncArgs are the flags every test passes: its own repo and instance.
func syncArgs(r *repo, instance string, extra ...string) []string {
	return append([]string{"--repo", r.dir, "--instance", instance}, extra...)
}

// agentProc is a running `drover agent` whose log the test reads.
type agentProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	log  *testutil.Buffer
	done chan struct{}
}

func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	return startAgentWith(t, nil, args...)
}

// startAgentWith starts an agent with extra environment variables.
func startAgentWith(t *testing.T, extraEnv []string, args ...string) *agentProc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(env.drover, append([]string{"agent", "--listen", addr}, args...)...)
	cmd.Env = append(droverEnv(t), extraEnv...)
	a := &agentProc{t: t, cmd: cmd, addr: addr, log: &testutil.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	go func() { _ = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	return a
}

// stop sends SIGTERM to the agent (only this PID) and waits for it.
func (a *agentProc) stop() int {
	select {
	case <-a.done:
	default:
		_ = a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	}
	return a.cmd.ProcessState.ExitCode()
}

// waitEvent waits until the agent logged an event matching pred.
func (a *agentProc) waitEvent(name string, timeout time.Duration, pred func(map[string]any) bool) map[string]any {
	a.t.Helper()
	return a.waitFor(0, name, timeout, "", pred)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func nomadJob(t *testing.T, id string) *api.Job {
	t.Helper()
	job, _, err := env.cluster.Nomad().Jobs().Info(id, nil)
	if err != nil {
		t.Fatalf("read job %s: %v", id, err)
	}
	return job
}

// waitRunning waits until the job has count running allocations and every
// Consul check of its service passes.
func waitHealthy(t *testing.T, id string, count int) {
	t.Helper()
	testutil.WaitFor(t, 90*time.Second, "job "+id+" running and healthy", func() (bool, string) {
		allocs, _, err := env.cluster.Nomad().Jobs().Allocations(id, false, nil)
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" && a.DesiredStatus == "run" {
				running++
			}
		}
		if running != count {
			return false, fmt.Sprintf("%d of %d allocations running", running, count)
		}
		checks, _, err := env.cluster.Consul().Health().Checks(id, nil)
		if err != nil {
			return false, err.Error()
		}
		passing := 0
		for _, c := range checks {
			if c.Status == "passing" {
				passing++
			}
		}
		if passing != count || len(checks) != count {
			return false, fmt.Sprintf("%d of %d checks passing", passing, len(checks))
		}
		return true, ""
	})
}
