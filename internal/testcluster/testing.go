package testcluster

import "testing"

// StartT starts a cluster for one test, in a directory under t.TempDir(),
// and stops it when the test ends. It fails the test, never skips it, when
// the binaries are missing or the agents do not come up: an end-to-end test
// that silently skips is a test that never runs. When the test has failed,
// the end of both agents' logs is added to its output.
func StartT(t testing.TB) *Cluster {
	t.Helper()
	return StartWithT(t, Options{})
}

// StartWithT is StartT with options, e.g. ACL and TLS; opts.Dir is
// replaced by a directory under t.TempDir().
func StartWithT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.Dir = t.TempDir()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start Nomad+Consul dev cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster in %s, Nomad %s, Consul %s\n%s", c.Dir(), c.NomadAddr(), c.ConsulAddr(), c.logTails())
		}
		if err := c.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return c
}

// StartConsulOnlyT starts a lone Consul dev agent for one test, in a
// directory under t.TempDir(), and closes it when the test ends. Like
// StartT it fails the test, never skips it, when the agent cannot start,
// and adds the end of its log to the output of a failed test.
func StartConsulOnlyT(t testing.TB) *Consul {
	t.Helper()
	c, err := StartConsulOnly(t.Context(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start Consul dev agent: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul in %s at %s\n%s", c.Dir(), c.Addr(), c.logTail())
		}
		if err := c.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return c
}
