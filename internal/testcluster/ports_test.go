package testcluster

import "testing"

// A start retried after a port race picks the unfixed HTTP ports anew,
// and keeps the ones Options fixed.
func TestPickPorts_RetryPicksUnfixedHTTPPortsAnew(t *testing.T) {
	c := &Cluster{consul: &Consul{}, fixedNomadHTTP: 4646}
	// As if a first attempt had picked port 1 for Consul and lost it.
	c.consul.ports.HTTP = 1
	if err := c.pickPorts(); err != nil {
		t.Fatal(err)
	}
	if c.consul.ports.HTTP == 1 || c.consul.ports.HTTP == 0 {
		t.Errorf("consul HTTP port = %d after a retry; want a newly picked one", c.consul.ports.HTTP)
	}
	if c.nomadPorts.HTTP != 4646 {
		t.Errorf("nomad HTTP port = %d; want the fixed 4646", c.nomadPorts.HTTP)
	}
}
