package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDir_FilesAndReadFile(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"jobs/web/api.nomad.hcl": "api",
		"a.b":                    "dot",
		"a/x":                    "slash",
		".git/config":            "not a job",
		"sub/.git/HEAD":          "not a job either",
	})
	outside := filepath.Join(t.TempDir(), "secret")
	writeTree(t, filepath.Dir(outside), map[string]string{"secret/passwd": "outside"})
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.b", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}

	d, err := Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision() != "" {
		t.Errorf("Revision() = %q, want empty", d.Revision())
	}
	files, err := d.Files()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.b", "a/x", "jobs/web/api.nomad.hcl"}
	if !slices.Equal(files, want) {
		t.Fatalf("Files() = %q, want %q", files, want)
	}
	if got := readFile(t, d, "jobs/web/api.nomad.hcl"); got != "api" {
		t.Errorf("ReadFile = %q, want api", got)
	}

	for _, path := range []string{"missing", "jobs", "link", "escape/passwd", "../" + filepath.Base(root) + "/a.b", "/a.b", ".git/config", "sub/.git/HEAD", ""} {
		t.Run(path, func(t *testing.T) {
			data, err := d.ReadFile(path)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ReadFile(%q) = %q, %v; want fs.ErrNotExist", path, data, err)
			}
		})
	}
}

func TestDir_RejectsNonDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeTree(t, filepath.Dir(file), map[string]string{"file": "x"})
	for _, path := range []string{file, filepath.Join(t.TempDir(), "missing")} {
		if _, err := Dir(path); err == nil || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("Dir(%q) = %v, want an error naming it", path, err)
		}
	}
}
