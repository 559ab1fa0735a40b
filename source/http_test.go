package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// gitHTTPServer serves the repositories under root over git's smart HTTP
// protocol (git http-backend), and only to basic auth user:password.
func gitHTTPServer(t *testing.T, root, user, password string) string {
	t.Helper()
	backend := gitHTTPBackend(t, root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// gitHTTPBackend is git http-backend serving the repositories under root.
func gitHTTPBackend(t *testing.T, root string) http.Handler {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	return &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
}

func TestOpen_HTTPBasicAuth(t *testing.T) {
	o := newOrigin(t, "main")
	head := o.commit(map[string]string{"jobs/a.hcl": "a"})
	root := filepath.Dir(o.dir)
	const token = "s3cret-token"

	tests := []struct {
		name       string
		serverUser string
		url        string // path on the server, or a full URL template with {host}
		auth       Auth
		wantErr    error
	}{
		{"token with default user git", "git", "/origin/.git", Auth{Token: token}, nil},
		{"token with explicit user", "bot", "/origin/.git", Auth{Username: "bot", Token: token}, nil},
		{"password in URL", "bot", "bot:" + token + "@/origin/.git", Auth{}, nil},
		{"wrong token", "git", "/origin/.git", Auth{Token: "wrong"}, transport.ErrAuthenticationRequired},
		{"no credentials", "git", "/origin/.git", Auth{}, transport.ErrAuthenticationRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := gitHTTPServer(t, root, tt.serverUser, token)
			url := base + tt.url
			if userinfo, path, ok := strings.Cut(tt.url, "@"); ok {
				url = strings.Replace(base, "://", "://"+userinfo+"@", 1) + path
			}
			r, err := Open(context.Background(), Options{URL: url, Auth: tt.auth, DataDir: t.TempDir()})
			if err == nil && tt.wantErr != nil {
				// Open only validates; the first Fetch connects.
				_, err = r.Fetch(context.Background())
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := mustFetch(t, r).Revision(); got != head {
				t.Fatalf("Revision() = %s, want %s", got, head)
			}
			if strings.Contains(r.URL(), token) {
				t.Errorf("URL() = %q leaks the password", r.URL())
			}
			cfg, err := os.ReadFile(filepath.Join(r.dir, "config"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(cfg), token) {
				t.Errorf("clone config stores the password:\n%s", cfg)
			}
		})
	}
}
