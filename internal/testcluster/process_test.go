package testcluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailBuffer_KeepsWholeLastLines(t *testing.T) {
	tb := newTailBuffer(16)
	for _, s := range []string{"first line\n", "second\n", "third\n"} {
		tb.Write([]byte(s))
	}
	if got, want := tb.String(), "second\nthird"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(path, []byte("aaaa\nbbbb\ncccc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit int64
		want  string
	}{
		{100, "aaaa\nbbbb\ncccc"},
		{8, "cccc"}, // starts mid-"bbbb": the partial line is dropped
		{10, "cccc"},
		{11, "bbbb\ncccc"},
	}
	for _, tt := range tests {
		if got := readTail(path, tt.limit); got != tt.want {
			t.Errorf("readTail(%d) = %q, want %q", tt.limit, got, tt.want)
		}
	}
	if got := readTail(filepath.Join(t.TempDir(), "missing"), 10); !strings.Contains(got, "cannot read log") {
		t.Errorf("missing file: %q", got)
	}
}

func TestPrefixWriter_PassesWholeLinesOnly(t *testing.T) {
	var out bytes.Buffer
	pw := &prefixWriter{w: &out, prefix: "nomad: "}
	pw.Write([]byte("one\ntw"))
	pw.Write([]byte("o\nthr"))
	if got, want := out.String(), "nomad: one\nnomad: two\n"; got != want {
		t.Errorf("before flush %q, want %q", got, want)
	}
	pw.flush()
	if got, want := out.String(), "nomad: one\nnomad: two\nnomad: thr\n"; got != want {
		t.Errorf("after flush %q, want %q", got, want)
	}
}

func TestFreePorts_Distinct(t *testing.T) {
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("bad or repeated port %d in %v", p, ports)
		}
		seen[p] = true
	}
}

func TestRepoRoot_FindsDroverModule(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := declaresModule(filepath.Join(root, "go.mod"), modulePath)
	if err != nil || !ok {
		t.Fatalf("root %s: declaresModule = %v, %v", root, ok, err)
	}
}

func TestDeclaresModule(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          bool
	}{
		{"drover", "module github.com/drover-dev/drover\n\ngo 1.26.0\n", true},
		{"quoted", "// comment\nmodule \"github.com/drover-dev/drover\"\n", true},
		{"tools module", "module github.com/drover-dev/drover/tools/nomad\n", false},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name+".mod")
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := declaresModule(path, modulePath); err != nil || got != tt.want {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if got, err := declaresModule(filepath.Join(dir, "none"), modulePath); err != nil || got {
		t.Errorf("missing go.mod: got %v, %v", got, err)
	}
}
