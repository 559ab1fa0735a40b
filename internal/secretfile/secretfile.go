// Package secretfile reads a secret, such as an API token, from a file
// and reads it again whenever the file changes, so a token can be rotated
// (a Nomad workload identity renewed, a Vault agent's sink rewritten, a
// mounted secret updated) without restarting drover. Its values never
// appear in its errors.
package secretfile

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// File is one secret file. It is safe for concurrent use.
type File struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	value   string
}

// Open reads the secret at path, which must exist and not be empty.
func Open(path string) (*File, error) {
	f := &File{path: path}
	if _, err := f.Get(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the file's path, for messages.
func (f *File) Path() string { return f.path }

// Get returns the secret, read again when the file's size or
// modification time moved since the last read: a stat per call, cheap
// next to the HTTP request it authenticates. While the file is missing
// or empty (mid-rotation: removed and written again, or truncated then
// written) the last good value stands; only a file never read is an
// error.
func (f *File) Get() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return f.last(fmt.Errorf("secret file %s: %w", f.path, err))
	}
	if f.value != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.value, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return f.last(fmt.Errorf("secret file %s: %w", f.path, err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return f.last(fmt.Errorf("secret file %s is empty", f.path))
	}
	f.value, f.modTime, f.size = v, fi.ModTime(), fi.Size()
	return v, nil
}

func (f *File) last(err error) (string, error) {
	if f.value != "" {
		return f.value, nil
	}
	return "", err
}

// Transport sets header to the secret on every request before passing
// it to next.
type Transport struct {
	Next   http.RoundTripper
	Header string
	Secret *File
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	v, err := t.Secret.Get()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set(t.Header, v)
	return t.Next.RoundTrip(req)
}
