package testcluster

import (
	"fmt"
	"net"
	"strconv"
)

// freePorts returns n distinct loopback ports that were free for TCP and UDP
// a moment ago. Every listener is held until all n are chosen, so one cluster
// never gets the same port twice; they are closed before returning because
// the agents must bind them themselves. Another process may still grab one
// in between, which is why Start retries when an agent reports the address
// in use.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick free port: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		// Serf gossips over UDP on the same number, so the port must be free
		// for both; a TCP-only check would let memberlist fail at start-up.
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		ports = append(ports, port)
	}
	return ports, nil
}

// checkPortFree reports whether a caller-chosen port can be bound now, so a
// fixed port that is taken fails with a clear message instead of an agent log.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d: %w", port, err)
	}
	return l.Close()
}
