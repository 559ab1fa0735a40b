package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/faultproxy"
	"github.com/drover-dev/drover/internal/testutil"
)

// The fault scenarios' deadlines: short, so a hang is reported in seconds,
// and slack for a loaded 2-core machine running them all at once.
const (
	faultNomadTimeout  = 3 * time.Second
	faultConsulTimeout = 2 * time.Second
	faultSlack         = 5 * time.Second
)

// faultRolloutArgs keep rollouts short: 2s healthy, 3s bake, 20s deadline.
var faultRolloutArgs = []string{"--interval", "1h", "--health-min-healthy", "2s", "--bake", "3s", "--health-deadline", "20s"}

// faults are the proxies in front of the cluster's Nomad and Consul that
// one agent talks to; the test's own clients (env.cluster.Nomad(),
// env.cluster.Consul()) bypass them.
type faults struct {
	nomad, consul *faultproxy.Proxy
}

func newFaults(t *testing.T) *faults {
	t.Helper()
	n, err := faultproxy.New(env.cluster.NomadAddr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := faultproxy.New(env.cluster.ConsulAddr())
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	// Registered before any agent's cleanup, so run after it: the agent
	// stops while its proxies still answer.
	t.Cleanup(func() {
		n.Close()
		c.Close()
	})
	return &faults{nomad: n, consul: c}
}

// start runs an agent against the proxies. The timeouts are given as
// environment variables (DROVER_NOMAD_TIMEOUT, DROVER_CONSUL_TIMEOUT, the
// names the flags get by drover's convention) rather than flags: a drover
// without --consul-timeout then still starts, and fails the scenario for
// what it does, not for a flag it does not know.
// TestFault_TimeoutFlagsExist checks the flags themselves.
func (f *faults) start(t *testing.T, extraEnv []string, args ...string) *agentProc {
	t.Helper()
	e := append([]string{
		"NOMAD_ADDR=" + f.nomad.URL(),
		"CONSUL_HTTP_ADDR=" + f.consul.Addr(),
		"DROVER_NOMAD_TIMEOUT=" + faultNomadTimeout.String(),
		"DROVER_CONSUL_TIMEOUT=" + faultConsulTimeout.String(),
	}, extraEnv...)
	return startAgentWith(t, e, args...)
}

// startFaultyAgent starts an agent whose Nomad and Consul are behind
// proxies the test controls.
func startFaultyAgent(t *testing.T, args ...string) (*agentProc, *faults) {
	t.Helper()
	f := newFaults(t)
	return f.start(t, nil, args...), f
}

// waitHanging waits until the proxy holds n requests the rule selects.
func waitHanging(t *testing.T, p *faultproxy.Proxy, r faultproxy.Rule, n int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.WaitHanging(ctx, r, n); err != nil {
		t.Fatal(err)
	}
}

// waitCount waits until the proxy has received n requests the rule selects.
func waitCount(t *testing.T, p *faultproxy.Proxy, r faultproxy.Rule, n int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.WaitCount(ctx, r, n); err != nil {
		t.Fatal(err)
	}
}

// agentGet asks the agent's HTTP API with a deadline: an endpoint that
// hangs is a failure to report, not a test that hangs. code is 0 when
// there was no answer, and body then says why.
func agentGet(a *agentProc, path string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + a.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func healthz(a *agentProc) (int, string) { return agentGet(a, "/healthz") }

// waitHealthz waits until /healthz answers code with a body holding every
// one of substrings.
func waitHealthz(a *agentProc, code int, timeout time.Duration, substrings ...string) string {
	a.t.Helper()
	var body string
	testutil.WaitFor(a.t, timeout, fmt.Sprintf("/healthz %d with %q", code, substrings), func() (bool, string) {
		var got int
		got, body = healthz(a)
		if got != code {
			return false, fmt.Sprintf("%d %q", got, body)
		}
		for _, s := range substrings {
			if !strings.Contains(body, s) {
				return false, fmt.Sprintf("%d %q", got, body)
			}
		}
		return true, ""
	})
	return body
}

// mark is a position in the agent's log: the events after it are the ones
// what the test did next caused.
func (a *agentProc) mark() int { return len(a.log.String()) }

func (a *agentProc) eventsAfter(mark int, name string) []map[string]any {
	return testutil.EventsIn(a.log.String()[mark:], name)
}

// waitFor waits until the agent logged, after mark, an event name matching
// pred (nil: any), and fails saying what was awaited.
func (a *agentProc) waitFor(mark int, name string, timeout time.Duration, what string, pred func(map[string]any) bool) map[string]any {
	a.t.Helper()
	var found map[string]any
	awaited := "a " + name + " event"
	if what != "" {
		awaited += " (" + what + ")"
	}
	testutil.WaitFor(a.t, timeout, awaited, func() (bool, string) {
		evs := a.eventsAfter(mark, name)
		for _, e := range evs {
			if pred == nil || pred(e) {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d %s events, none matching", len(evs), name)
	})
	return found
}

// countAfter is how many events name the agent logged after mark that
// match pred (nil: all).
func (a *agentProc) countAfter(mark int, name string, pred func(map[string]any) bool) int {
	n := 0
	for _, e := range a.eventsAfter(mark, name) {
		if pred == nil || pred(e) {
			n++
		}
	}
	return n
}

// okCycle selects a cycle that finished, with or without job errors.
func okCycle(e map[string]any) bool { return e["result"] == nil || e["result"] == "ok" }

func failedAt(step string) func(map[string]any) bool {
	return func(e map[string]any) bool { return e["result"] == "failed" && e["step"] == step }
}

// checkFailedCycle checks the fields a failed sync.done carries.
func checkFailedCycle(t *testing.T, e map[string]any, kind string) {
	t.Helper()
	if e["level"] != "error" || e["kind"] != kind || fmt.Sprint(e["error"]) == "" || e["retry_in"] == nil {
		t.Errorf("failed cycle = %v; want level error, kind %s, an error and retry_in", e, kind)
	}
}

// forJob selects the events of one job; with commit, of that commit.
func forJob(job string) func(map[string]any) bool {
	return func(e map[string]any) bool { return e["job"] == job }
}

// batchJob is a job drover registers but does not watch (a batch job has
// no rollout), for scenarios about the cycle: one hello process on any
// port, no service, no check. version changes its spec.
func batchJob(id, version string) string {
	return fmt.Sprintf(`job %q {
  type = "batch"
  group "run" {
    task "hello" {
      driver = "raw_exec"
      config {
        command = var.hello_bin
        args    = ["-addr", "127.0.0.1:0", "-version", %q]
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}

variable "hello_bin" {
  type = string
}
`, id, version)
}

// allocAddrs are the HTTP addresses of the running allocations of a job
// at one Nomad job version.
func allocAddrs(t *testing.T, id string, version uint64) []string {
	t.Helper()
	stubs, _, err := env.cluster.Nomad().Jobs().Allocations(id, false, nil)
	if err != nil {
		t.Fatalf("allocations of %s: %v", id, err)
	}
	var addrs []string
	for _, s := range stubs {
		if s.JobVersion != version || s.ClientStatus != "running" {
			continue
		}
		alloc, _, err := env.cluster.Nomad().Allocations().Info(s.ID, nil)
		if err != nil {
			t.Fatalf("allocation %s: %v", s.ID, err)
		}
		if alloc.AllocatedResources == nil {
			continue
		}
		for _, p := range alloc.AllocatedResources.Shared.Ports {
			if p.Label == "http" {
				host := p.HostIP
				if host == "" {
					host = "127.0.0.1"
				}
				addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(p.Value)))
			}
		}
	}
	return addrs
}

// makeUnhealthy turns the /health of every running allocation of the job
// version to 500 (hello's admin endpoint), and waits until Consul, asked
// directly, has the service's check critical.
func makeUnhealthy(t *testing.T, id string, version uint64) {
	t.Helper()
	addrs := allocAddrs(t, id, version)
	if len(addrs) == 0 {
		t.Fatalf("no running allocation of %s version %d", id, version)
	}
	for _, addr := range addrs {
		resp, err := http.Post("http://"+addr+"/admin/unhealthy", "text/plain", nil)
		if err != nil {
			t.Fatalf("make %s unhealthy: %v", addr, err)
		}
		resp.Body.Close()
	}
	testutil.WaitFor(t, 30*time.Second, id+"'s check critical in Consul", func() (bool, string) {
		checks, _, err := env.cluster.Consul().Health().Checks(id, nil)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range checks {
			if c.Status == "critical" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d checks, none critical", len(checks))
	})
}

// uintField reads a numeric log field.
func uintField(e map[string]any, name string) uint64 {
	f, _ := e[name].(float64)
	return uint64(f)
}

// gitObjectExists reports whether the repository still has the object.
func gitObjectExists(dir, sha string) bool {
	cmd := exec.Command("git", "cat-file", "-e", sha+"^{commit}")
	cmd.Dir = dir
	return cmd.Run() == nil
}
