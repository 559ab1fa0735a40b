package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Consul is one Consul dev agent started alone by StartConsulOnly, for a
// test that stops and restarts Consul under what it tests without
// disturbing the agents other tests share. Its methods are safe for
// concurrent use.
type Consul struct {
	bin          string
	dir          string
	removeDir    bool
	logOutput    io.Writer
	readyTimeout time.Duration
	ports        consulPorts
	config       string
	client       *consulapi.Client

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
	bin, err := resolveBinary(opts.ConsulBin, "DROVER_CONSUL_BIN", "consul")
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	c := &Consul{bin: bin, dir: opts.Dir, readyTimeout: opts.ReadyTimeout}
	if c.readyTimeout <= 0 {
		c.readyTimeout = 90 * time.Second
	}
	if opts.LogOutput != nil {
		c.logOutput = &syncWriter{w: opts.LogOutput}
	}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "drover-consul-"); err != nil {
			return nil, fmt.Errorf("testcluster: %w", err)
		}
		c.removeDir = true
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	if p := opts.ConsulHTTPPort; p != 0 {
		if err := checkPortFree(p); err != nil {
			return nil, fmt.Errorf("testcluster: fixed %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		err = c.firstStart(ctx, opts.ConsulHTTPPort)
		if err == nil {
			return c, nil
		}
		c.Stop()
		retry := attempt < startAttempts && errors.Is(err, errPortTaken) && opts.ConsulHTTPPort == 0 && ctx.Err() == nil
		if !retry {
			break
		}
	}
	if c.removeDir {
		os.RemoveAll(c.dir)
	}
	return nil, fmt.Errorf("testcluster: %w", err)
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
	if c.config, err = writeFile(c.dir, "consul.hcl", consulConfig(c.ports, security{})); err != nil {
		return err
	}
	// The address is explicit so CONSUL_HTTP_ADDR in the environment (a
	// developer's real Consul) can never redirect a test.
	if c.client, err = consulapi.NewClient(&consulapi.Config{Address: c.Addr(), Scheme: "http"}); err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	return c.Start(ctx)
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
	p, err := startConsulDev(c.bin, c.config, c.dir, c.logOutput)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.proc, c.last = p, p
	c.mu.Unlock()
	return awaitConsul(ctx, p, c.client, c.Addr(), c.readyTimeout)
}

// Stop stops the agent and waits for it to exit; Start brings it back.
// Stopping a stopped agent is a no-op.
func (c *Consul) Stop() error {
	c.mu.Lock()
	p := c.proc
	c.proc = nil
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.stop(stopGrace); err != nil {
		return fmt.Errorf("testcluster: stop consul: %w", err)
	}
	return nil
}

// Close stops the agent for good and removes Dir if StartConsulOnly
// created it. Calling Close again is a no-op.
func (c *Consul) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.Stop()
	if c.removeDir && err == nil {
		if rmErr := os.RemoveAll(c.dir); rmErr != nil {
			err = fmt.Errorf("testcluster: remove %s: %w", c.dir, rmErr)
		}
	}
	return err
}

// Addr is the agent's HTTP address, in the form CONSUL_HTTP_ADDR takes
// (host:port, no scheme).
func (c *Consul) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.ports.HTTP) }

// Client is an API client for this agent. It survives Stop and Start.
func (c *Consul) Client() *consulapi.Client { return c.client }

// Dir is the agent's work directory: its config and, unless
// Options.LogOutput was set, consul.log.
func (c *Consul) Dir() string { return c.dir }

// logTail returns the end of the agent's log, for a failed test's output.
func (c *Consul) logTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return ""
	}
	return fmt.Sprintf("--- consul log (tail) ---\n%s\n", c.last.tail())
}
