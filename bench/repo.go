package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

func jobID(i int) string   { return fmt.Sprintf("bench-%04d", i) }
func jobFile(i int) string { return jobID(i) + ".nomad.hcl" }

// benchJob is one service on the mock driver. Its resources are the
// smallest Nomad accepts (cpu 1 MHz, memory 10 MB, ephemeral disk 10 MB
// instead of the default 300 MB, which needs logs of 1 MB instead of 100),
// and log collection is off: otherwise every allocation runs a `nomad
// logmon` process of about 65 MB, and 1000 of them swamp the machine. So
// 1000 allocations fit one dev node:
// the node offers about 4 GHz and 24 GB on the bench machine, and the
// mock driver runs no process, so the limits are bookkeeping only.
func benchJob(i int, version string) string { return benchJobOf(i, version, 1) }

// benchJobOf is benchJob with count allocations (0: a job Nomad keeps,
// marks dead and places nothing for).
func benchJobOf(i int, version string, count int) string {
	return fmt.Sprintf(`job %q {
  group "g" {
    count = %d
    ephemeral_disk {
      size = 10
    }
    task "t" {
      driver = "mock_driver"
      config {
        run_for = "24h"
      }
      env {
        VERSION = %q
      }
      logs {
        disabled      = true
        max_files     = 1
        max_file_size = 1
      }
      resources {
        cpu    = 1
        memory = 10
      }
    }
  }
}
`, jobID(i), count, version)
}

// makeRepo writes n job files and commits them.
func makeRepo(dir string, n int) error { return makeRepoOf(dir, n, 1) }

// makeRepoOf writes n job files of count allocations each and commits them.
func makeRepoOf(dir string, n, count int) error {
	if err := initRepo(dir); err != nil {
		return err
	}
	return commitJobs(dir, n, count)
}

// initRepo makes dir an empty git repository on branch main.
func initRepo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_, err := git(dir, "init", "-q", "-b", "main")
	return err
}

// commitJobs writes n job files of count allocations each into the
// repository dir and commits them.
func commitJobs(dir string, n, count int) error {
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, jobFile(i)), []byte(benchJobOf(i, "1", count)), 0o644); err != nil {
			return err
		}
	}
	if _, err := git(dir, "add", "-A"); err != nil {
		return err
	}
	_, err := git(dir, "commit", "-q", "-m", fmt.Sprintf("%d jobs", n))
	return err
}

// scratch makes a temporary directory for one measurement, its name
// starting with drover-bench-name; remove deletes it and all in it.
func scratch(name string) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "drover-bench-"+name)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// scratchRepo is scratch with a repository of n jobs of count allocations
// each in it, at dir/repo.
func scratchRepo(name string, n, count int) (dir, repo string, remove func(), err error) {
	dir, remove, err = scratch(name)
	if err != nil {
		return "", "", nil, err
	}
	repo = filepath.Join(dir, "repo")
	if err := makeRepoOf(repo, n, count); err != nil {
		remove()
		return "", "", nil, err
	}
	return dir, repo, remove, nil
}

// commitVersion changes job i's VERSION and commits, returning the SHA.
func commitVersion(dir string, i int, version string) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, jobFile(i)), []byte(benchJob(i, version)), 0o644); err != nil {
		return "", err
	}
	if _, err := git(dir, "commit", "-q", "-am", jobID(i)+" "+version); err != nil {
		return "", err
	}
	return git(dir, "rev-parse", "HEAD")
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.com"}, args...)...)
	cmd.Dir = dir
	// Only dir's repository: a GIT_DIR (or GIT_WORK_TREE, GIT_INDEX_FILE)
	// inherited from a caller such as `git bisect run` would point these
	// commands at the caller's repository instead (the caller's repository
	// was left with core.bare set, seen under git bisect run).
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GIT_DIR=") || strings.HasPrefix(kv, "GIT_WORK_TREE=") || strings.HasPrefix(kv, "GIT_INDEX_FILE=")
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
