package testcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath identifies drover's repository root when walking up for .bin.
const modulePath = "github.com/drover-dev/drover"

// resolveBinary picks the agent binary: the explicit option, then the
// environment variable, then <repo root>/.bin/<name>. It checks the file is
// there and executable so a missing build fails with a hint, not an exec error.
func resolveBinary(explicit, envVar, name string) (string, error) {
	path := explicit
	if path == "" {
		path = os.Getenv(envVar)
	}
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("find %s binary: %w (set %s)", name, err, envVar)
		}
		path = filepath.Join(root, ".bin", name)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s binary: %w (build it from tools/%s into .bin/, or set %s)", name, err, name, envVar)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s binary %s is not an executable file", name, path)
	}
	return path, nil
}

// repoRoot walks up from the working directory to the directory whose go.mod
// declares drover's module. Tests run in their package's directory, so the
// nearest go.mod is usually the root, but tools/ holds modules of its own.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		ok, err := declaresModule(filepath.Join(dir, "go.mod"), modulePath)
		if err != nil {
			return "", err
		}
		if ok {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod at path exists and names module.
func declaresModule(path, module string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == module, nil
		}
	}
	return false, sc.Err()
}
