package secretfile

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, v string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	// Set the time explicitly: two writes within the file system's
	// timestamp granularity must still read as a change.
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestFile_ReadsAgainWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Now().Add(-time.Hour)
	write(t, path, "first\n", t0)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get(); v != "first" {
		t.Errorf("Get = %q, want first (trimmed)", v)
	}
	write(t, path, "second", t0.Add(time.Second))
	if v, _ := f.Get(); v != "second" {
		t.Errorf("after a rewrite Get = %q, want second", v)
	}
	// Mid-rotation: gone, then empty. The last value stands.
	os.Remove(path)
	if v, err := f.Get(); v != "second" || err != nil {
		t.Errorf("file removed: Get = %q, %v; want the last value", v, err)
	}
	write(t, path, "", t0.Add(2*time.Second))
	if v, err := f.Get(); v != "second" || err != nil {
		t.Errorf("file empty: Get = %q, %v; want the last value", v, err)
	}
	write(t, path, "third", t0.Add(3*time.Second))
	if v, _ := f.Get(); v != "third" {
		t.Errorf("Get = %q, want third", v)
	}
}

func TestOpen_RefusesMissingOrEmptyFileWithoutItsContent(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none")); err == nil {
		t.Error("no error for a missing file")
	}
	empty := filepath.Join(dir, "empty")
	write(t, empty, "  \n", time.Now())
	if _, err := Open(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("err = %v, want it to say empty", err)
	}
}

func TestTransport_SetsTheCurrentSecret(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Token"))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Now().Add(-time.Hour)
	write(t, path, "one", t0)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &Transport{Next: http.DefaultTransport, Header: "X-Token", Secret: f}}
	for i, v := range []string{"one", "two"} {
		if i > 0 {
			write(t, path, v, t0.Add(time.Duration(i)*time.Second))
		}
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("server saw tokens %q, want one,two", got)
	}
}
