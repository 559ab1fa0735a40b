package testcluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	consulapi "github.com/hashicorp/consul/api"
)

// Consul is one Consul dev agent that can be stopped and started again on
// the same ports. StartConsulOnly starts one alone, for a test that stops
// and restarts Consul under what it tests without disturbing the agents
// other tests share; a Cluster runs its Consul as one too. Its methods are
// safe for concurrent use.
type Consul struct {
	workspace
	bin    string
	sec    security
	ports  consulPorts
	config string // path of the config file, reused by Start
	client *consulapi.Client

	mu     sync.Mutex // guards the fields below
	proc   *process   // nil while stopped
	last   *process   // outlives Stop, for a failed test's log tail
	closed bool
}

// StartConsulOnly starts a Consul dev agent on free loopback ports (or
// opts.ConsulHTTPPort) and waits until it has elected itself leader. Only
// ConsulBin, Dir, LogOutput, ConsulHTTPPort and ReadyTimeout of opts
// apply. On failure nothing is left running and the error quotes the
// agent's log. ctx bounds only the start-up; the agent runs until Stop or
// Close.
func StartConsulOnly(ctx context.Context, opts Options) (*Consul, error) {
	c, err := newConsul(opts, "drover-consul-")
	if err != nil {
		return nil, err
	}
	firstStart := func(ctx context.Context) error { return c.firstStart(ctx, opts.ConsulHTTPPort) }
	if err := c.startRetrying(ctx, opts.ConsulHTTPPort != 0, firstStart, func() { c.Stop() }); err != nil {
		return nil, err
	}
	return c, nil
}

// newConsul resolves what a Consul agent takes from opts, alone or in a
// Cluster: its binary, its workspace (a new directory named after
// tempPattern when opts.Dir is empty) and its fixed HTTP port, which must
// be free.
func newConsul(opts Options, tempPattern string) (*Consul, error) {
	bin, err := resolveBinary(opts.ConsulBin, "DROVER_CONSUL_BIN", "consul")
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	ws, err := newWorkspace(opts, tempPattern)
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	if p := opts.ConsulHTTPPort; p != 0 {
		if err := checkPortFree(p); err != nil {
			return nil, fmt.Errorf("testcluster: fixed %w", err)
		}
	}
	return &Consul{workspace: ws, bin: bin}, nil
}

// firstStart picks the ports, which later Starts keep, and starts the agent.
func (c *Consul) firstStart(ctx context.Context, httpPort int) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	if httpPort == 0 {
		httpPort = ports[0]
	}
	c.ports = consulPorts{HTTP: httpPort, SerfLAN: ports[1], SerfWAN: ports[2], Server: ports[3]}
	if err := c.configure(); err != nil {
		return err
	}
	return c.Start(ctx)
}

// configure writes the config file for c.ports and makes the API client,
// which carries the management token and client certificate when c.sec
// has them. The address is explicit so CONSUL_HTTP_ADDR in the environment
// (a developer's real Consul) can never redirect a test.
func (c *Consul) configure() error {
	var err error
	if c.config, err = writeFile(c.dir, "consul.hcl", consulConfig(c.ports, c.sec)); err != nil {
		return err
	}
	if c.client, err = consulapi.NewClient(c.apiConfig(c.sec.consulToken)); err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	return nil
}

// apiConfig is an API client config for this agent with token, carrying
// the client certificate when TLS is on.
func (c *Consul) apiConfig(token string) *consulapi.Config {
	cfg := &consulapi.Config{Address: c.Addr(), Scheme: "http", Token: token}
	if f := c.sec.tls; f != nil {
		cfg.Scheme = "https"
		cfg.TLSConfig = consulapi.TLSConfig{CAFile: f.CACert, CertFile: f.ClientCert, KeyFile: f.ClientKey}
	}
	return cfg
}

// Start starts the agent again after Stop, on the same ports, and waits
// until it has a leader. Dev mode keeps everything in memory: the
// restarted agent has no KV data and no sessions.
func (c *Consul) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("consul: closed")
	}
	if c.proc != nil {
		c.mu.Unlock()
		return errors.New("consul: already running")
	}
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1", "-config-file", c.config}
	p, err := startProcess("consul", c.bin, args, c.dir, c.logOutput)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.proc, c.last = p, p
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	defer cancel()
	if err := waitReady(ctx, p, func(ctx context.Context) error { return consulHasLeader(ctx, c.client) }); err != nil {
		return fmt.Errorf("consul at %s not ready: %w", c.Addr(), err)
	}
	return nil
}

// Stop stops the agent and waits for it to exit; Start brings it back.
// Stopping a stopped agent is a no-op.
func (c *Consul) Stop() error {
	if _, err := c.stop(); err != nil {
		return fmt.Errorf("testcluster: stop consul: %w", err)
	}
	return nil
}

// stop is Stop, reporting whether the agent was running.
func (c *Consul) stop() (running bool, err error) {
	c.mu.Lock()
	p := c.proc
	c.proc = nil
	c.mu.Unlock()
	if p == nil {
		return false, nil
	}
	return true, p.stop(stopGrace)
}

// Close stops the agent for good and removes Dir if StartConsulOnly
// created it. Calling Close again is a no-op.
func (c *Consul) Close() error {
	if !c.markClosed() {
		return nil
	}
	if err := c.Stop(); err != nil {
		return err
	}
	if err := c.removeDirIfOurs(); err != nil {
		return fmt.Errorf("testcluster: %w", err)
	}
	return nil
}

// markClosed makes every later Start fail, and reports whether this was
// the first call: only that caller goes on to stop things.
func (c *Consul) markClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := !c.closed
	c.closed = true
	return first
}

// Addr is the agent's HTTP address, in the form CONSUL_HTTP_ADDR takes
// (host:port, no scheme).
func (c *Consul) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.ports.HTTP) }

// Client is an API client for this agent. It survives Stop and Start.
func (c *Consul) Client() *consulapi.Client { return c.client }

// Dir is the agent's work directory: its config and, unless
// Options.LogOutput was set, consul.log.
func (c *Consul) Dir() string { return c.dir }

// lastProcess is the agent most recently started, running or not, nil
// before the first Start.
func (c *Consul) lastProcess() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// logTail returns the end of the agent's log, for a failed test's output.
func (c *Consul) logTail() string { return logTails(c.lastProcess()) }
