// Package e2e runs the drover binary against real Nomad and Consul dev
// agents and real git repositories on disk. The cluster is started once for
// the package; every test uses its own job names, repository and drover
// instance so tests do not see each other's jobs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
)

// suite is what TestMain prepared; read-only for the tests.
type suite struct {
	cluster *testcluster.Cluster
	drover  string // path of the built drover binary
	hello   string // path of the built example service
}

var env suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for name, pkg := range map[string]string{"drover": "../cmd/drover", "hello": "../examples/hello"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	env.drover, env.hello = filepath.Join(dir, "drover"), filepath.Join(dir, "hello")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env.cluster, err = testcluster.Start(ctx, testcluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		// Loud, never a skip: these tests are the point of the suite.
		fmt.Fprintf(os.Stderr, "e2e: FAIL: cannot start Nomad and Consul dev agents (run `make tools`): %v\n", err)
		return 1
	}
	defer env.cluster.Stop()
	return m.Run()
}
