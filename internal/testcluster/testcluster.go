// Package testcluster runs a real Consul dev agent and a real Nomad dev agent
// on free loopback ports, for drover's end-to-end tests and `make demo`.
//
// drover is tested against the real servers rather than mocks (see
// STYLE.md): plan responses, deployment states and check results are what
// they would be in production. Every port is picked free at start-up, so
// several clusters (parallel test packages, a running demo) share a machine
// without colliding, and nothing listens beyond 127.0.0.1.
//
// Tests call StartT; programs call Start and Stop.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// NomadBin and ConsulBin are the agent binaries. Empty means the
	// DROVER_NOMAD_BIN / DROVER_CONSUL_BIN environment variables, else
	// .bin/nomad and .bin/consul in the repository root.
	NomadBin, ConsulBin string

	// Dir holds agent configs, Nomad's data directory and the agents' logs.
	// Empty means a new temporary directory, removed by Stop.
	Dir string

	// LogOutput receives both agents' logs, each line prefixed "consul: " or
	// "nomad: ". Nil means consul.log and nomad.log in Dir.
	LogOutput io.Writer

	// NomadHTTPPort and ConsulHTTPPort fix the HTTP ports, e.g. the demo's
	// familiar 4646 and 8500. Zero picks free ports.
	NomadHTTPPort, ConsulHTTPPort int

	// ReadyTimeout bounds the wait for both agents to be usable. Zero means
	// 90 seconds.
	ReadyTimeout time.Duration

	// Capacity, when set, is what the Nomad client advertises instead of
	// what it fingerprints, e.g. for a benchmark placing more allocations
	// than the machine could hold if they did real work.
	Capacity *Capacity

	// ACL starts both agents with ACLs on and denying by default, as
	// production clusters run. The cluster's own clients (Nomad, Consul)
	// carry management tokens; a test makes the tokens it hands drover
	// with NomadToken and ConsulToken.
	ACL bool

	// TLS starts both agents with mutual TLS on their HTTP APIs (and
	// Nomad's RPC), with certificates made for the cluster (TLSFiles).
	TLS bool
}

// Capacity is a Nomad client's advertised resources (the client block's
// cpu_total_compute, memory_total_mb and disk_total_mb). A zero field keeps
// the fingerprinted value.
type Capacity struct {
	CPUMHz, MemoryMB, DiskMB int
}

// Cluster is a running pair of agents. Its methods are safe for concurrent
// use.
type Cluster struct {
	workspace
	nomadBin string
	capacity *Capacity
	sec      security

	// consul is the Consul agent, which StopConsul and StartConsul stop
	// and start alone; it shares the cluster's workspace but leaves the
	// directory to Stop. Closing it marks the cluster stopped.
	consul      *Consul
	nomadPorts  nomadPorts
	nomadClient *nomadapi.Client
	// fixedConsulHTTP and fixedNomadHTTP are the HTTP ports Options fixed
	// (0: pick one). Kept apart from the ports in use, so a start retried
	// after losing a port race picks every unfixed port anew.
	fixedConsulHTTP, fixedNomadHTTP int

	mu    sync.Mutex // guards the fields below
	nomad *process   // nil while stopped
	// bootstrapped is set once Nomad's ACL system has been bootstrapped
	// with sec.nomadToken; a start-up retry resets it.
	bootstrapped bool
	// lastNomad outlives Stop, so a failed test can still quote Nomad's
	// log after the cluster is down.
	lastNomad *process
}

// stopGrace is how long an agent gets between SIGTERM and SIGKILL. Nomad in
// dev mode stops every allocation on shutdown, each with its task's
// kill_timeout (5s by default), so it needs more than a moment.
const stopGrace = 20 * time.Second

// Start launches Consul, waits for it to elect itself leader, then launches
// Nomad pointed at it and waits until Nomad has a leader and a ready client
// node with raw_exec and Consul fingerprinted. On failure it stops whatever
// it started and the error quotes the failing agent's log. ctx bounds only
// the start-up; the agents run until Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	portFixed := opts.NomadHTTPPort != 0 || opts.ConsulHTTPPort != 0
	if err := c.startRetrying(ctx, portFixed, c.start, func() { c.stopAgents() }); err != nil {
		return nil, err
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	nomadBin, err := resolveBinary(opts.NomadBin, "DROVER_NOMAD_BIN", "nomad")
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	consul, err := newConsul(opts, "drover-testcluster-")
	if err != nil {
		return nil, err
	}
	// The directory is the cluster's to remove, not its Consul's.
	c := &Cluster{workspace: consul.workspace, nomadBin: nomadBin, capacity: opts.Capacity, consul: consul}
	consul.removeDir = false
	if opts.ACL {
		c.sec.nomadToken, c.sec.consulToken = newSecret(), newSecret()
	}
	if opts.TLS {
		if c.sec.tls, err = makeTLSFiles(c.dir); err != nil {
			return nil, fmt.Errorf("testcluster: %w", err)
		}
	}
	if p := opts.NomadHTTPPort; p != 0 {
		if err := checkPortFree(p); err != nil {
			return nil, fmt.Errorf("testcluster: fixed %w", err)
		}
	}
	consul.sec = c.sec
	c.fixedConsulHTTP, c.fixedNomadHTTP = opts.ConsulHTTPPort, opts.NomadHTTPPort
	return c, nil
}

// errPortTaken marks a start-up that failed because a picked port was
// taken, which a retry with new ports fixes.
var errPortTaken = errors.New("port taken")

// start picks ports, writes configs, creates clients and brings both agents
// up. It runs again with new ports when an agent lost a port race.
func (c *Cluster) start(ctx context.Context) error {
	if err := c.pickPorts(); err != nil {
		return err
	}
	if err := c.consul.configure(); err != nil {
		return err
	}
	nomadData := filepath.Join(c.dir, "nomad-data")
	nomadConfigPath, err := writeFile(c.dir, "nomad.hcl", nomadConfig(c.nomadPorts, nomadData, c.consul.ports.HTTP, c.capacity, c.sec))
	if err != nil {
		return err
	}
	if c.nomadClient, err = nomadapi.NewClient(c.nomadAPIConfig(c.sec.nomadToken)); err != nil {
		return fmt.Errorf("nomad client: %w", err)
	}
	c.bootstrapped = false

	ctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	defer cancel()
	if err := c.StartConsul(ctx); err != nil {
		return err
	}
	nomad, err := startProcess("nomad", c.nomadBin, []string{"agent", "-dev", "-config", nomadConfigPath}, c.dir, c.logOutput)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nomad, c.lastNomad = nomad, nomad
	c.mu.Unlock()
	if err := waitReady(ctx, nomad, c.nomadReady); err != nil {
		return fmt.Errorf("nomad at %s not ready: %w", c.NomadAddr(), err)
	}
	return nil
}

// pickPorts chooses every port not fixed by Options. Fixed HTTP ports stay
// across retries; the others are picked anew.
func (c *Cluster) pickPorts() error {
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	fixedOr := func(fixed, picked int) int {
		if fixed != 0 {
			return fixed
		}
		return picked
	}
	c.consul.ports = consulPorts{
		HTTP:    fixedOr(c.fixedConsulHTTP, ports[0]),
		SerfLAN: ports[1], SerfWAN: ports[2], Server: ports[3],
	}
	c.nomadPorts = nomadPorts{
		HTTP: fixedOr(c.fixedNomadHTTP, ports[4]),
		RPC:  ports[5], Serf: ports[6],
	}
	return nil
}

// StartConsul starts the Consul agent again after StopConsul, on the same
// ports, and waits until it has a leader. Consul's dev mode keeps its state
// in memory, so the restarted agent starts empty: Nomad re-registers its
// services on its next sync (within about 30 seconds), and KV data is gone.
func (c *Cluster) StartConsul(ctx context.Context) error { return c.consul.Start(ctx) }

// StopConsul stops the Consul agent, leaving Nomad running, to test how
// drover copes when Consul goes away. StartConsul brings it back.
func (c *Cluster) StopConsul() error {
	running, err := c.consul.stop()
	if !running {
		return errors.New("consul: not running")
	}
	return err
}

// Stop stops Nomad, then Consul (so Nomad can deregister its services on
// the way out), waiting for both to exit. It signals only the processes it
// started. It removes Dir if Start created it. Calling Stop again is a no-op.
func (c *Cluster) Stop() error {
	if !c.consul.markClosed() {
		return nil
	}
	err := c.stopAgents()
	if err == nil {
		err = c.removeDirIfOurs()
	}
	if err != nil {
		return fmt.Errorf("testcluster: stop: %w", err)
	}
	return nil
}

// stopAgents stops whichever agents are running, Nomad first.
func (c *Cluster) stopAgents() error {
	c.mu.Lock()
	nomad := c.nomad
	c.nomad = nil
	c.mu.Unlock()
	var errs []error
	if nomad != nil {
		errs = append(errs, nomad.stop(stopGrace))
	}
	_, err := c.consul.stop()
	return errors.Join(append(errs, err)...)
}

// NomadAddr is Nomad's HTTP address, in the form NOMAD_ADDR takes.
func (c *Cluster) NomadAddr() string {
	scheme := "http"
	if c.sec.tls != nil {
		scheme = "https"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(c.nomadPorts.HTTP)
}

// ConsulAddr is Consul's HTTP address, in the form CONSUL_HTTP_ADDR takes
// (host:port, no scheme).
func (c *Cluster) ConsulAddr() string { return c.consul.Addr() }

// Nomad is an API client for this cluster's Nomad.
func (c *Cluster) Nomad() *nomadapi.Client { return c.nomadClient }

// Consul is an API client for this cluster's Consul.
func (c *Cluster) Consul() *consulapi.Client { return c.consul.Client() }

// Env is the environment that points Nomad and Consul clients (drover, the
// nomad and consul CLIs) at this cluster; append it to os.Environ() for a
// child process.
// With Options.TLS it names the CA and the client certificate too. It
// never carries a token: with Options.ACL a test hands drover a token
// made from a policy (NomadToken, ConsulToken), not the management one.
func (c *Cluster) Env() []string {
	env := []string{"NOMAD_ADDR=" + c.NomadAddr(), "CONSUL_HTTP_ADDR=" + c.ConsulAddr()}
	if f := c.sec.tls; f != nil {
		env = append(env,
			"NOMAD_CACERT="+f.CACert, "NOMAD_CLIENT_CERT="+f.ClientCert, "NOMAD_CLIENT_KEY="+f.ClientKey,
			"CONSUL_HTTP_SSL=true", "CONSUL_CACERT="+f.CACert, "CONSUL_CLIENT_CERT="+f.ClientCert, "CONSUL_CLIENT_KEY="+f.ClientKey)
	}
	return env
}

// Dir is the cluster's work directory: configs, Nomad's data and, unless
// Options.LogOutput was set, consul.log and nomad.log.
func (c *Cluster) Dir() string { return c.dir }

// logTails returns the end of each agent's log, for a failed test's output.
func (c *Cluster) logTails() string {
	c.mu.Lock()
	nomad := c.lastNomad
	c.mu.Unlock()
	return logTails(c.consul.lastProcess(), nomad)
}
