package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/secretfile"
)

// rotatingServer is a git HTTP server that accepts one basic-auth password
// at a time, changed by accept. A refused request is redirected to a path
// quoting every password the server has been sent, as a careless proxy
// might: go-git quotes a redirect's path in its error, so the tokens reach
// the error text unless the redactor scrubs them.
type rotatingServer struct {
	URL string

	mu       sync.Mutex
	accepted string
	sent     []string
}

func newRotatingServer(t *testing.T, root, password string) *rotatingServer {
	t.Helper()
	s := &rotatingServer{accepted: password}
	backend := gitHTTPBackend(t, root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/refused/") {
			http.NotFound(w, r)
			return
		}
		_, p, _ := r.BasicAuth()
		s.mu.Lock()
		ok := p == s.accepted
		s.sent = append(s.sent, p)
		quoted := make([]string, len(s.sent))
		for i, v := range s.sent {
			quoted[i] = url.PathEscape(v)
		}
		s.mu.Unlock()
		if !ok {
			http.Redirect(w, r, "/refused/"+strings.Join(quoted, "/"), http.StatusFound)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *rotatingServer) accept(password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted = password
}

// writeToken rewrites the token file. The tokens of a test differ in
// length, so the rewrite is seen even within the file system's mtime
// granularity.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFetch_TokenFileRotatedWithoutReopen(t *testing.T) {
	const tokenA, tokenB, refused = "tok-A-1111", "tok-B-222222", "tok-refused-33333333"
	o := newOrigin(t, "main")
	first := o.commit(map[string]string{"jobs/a.hcl": "a"})
	srv := newRotatingServer(t, filepath.Dir(o.dir), tokenA)

	tokenFile := filepath.Join(t.TempDir(), "git-token")
	writeToken(t, tokenFile, tokenA)
	file, err := secretfile.Open(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, Options{URL: srv.URL + "/origin/.git", Auth: Auth{TokenFrom: file.Get}, DataDir: t.TempDir()})
	if got := mustFetch(t, r).Revision(); got != first {
		t.Fatalf("with token A: Revision() = %s, want %s", got, first)
	}

	// The token rotates: the file holds B and the server takes only B.
	second := o.commit(map[string]string{"jobs/a.hcl": "a2"})
	writeToken(t, tokenFile, tokenB)
	srv.accept(tokenB)
	if got := mustFetch(t, r).Revision(); got != second {
		t.Fatalf("with token B: Revision() = %s, want %s", got, second)
	}

	// The file now holds a token the server refuses; its answer quotes
	// that token and the two before it.
	writeToken(t, tokenFile, refused)
	_, err = r.Fetch(context.Background())
	if err == nil {
		t.Fatal("Fetch with a refused token succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "/refused/"+redacted) {
		t.Fatalf("the server's redirect is not in the error, so this test shows nothing: %s", msg)
	}
	for _, token := range []string{tokenA, tokenB, refused} {
		if strings.Contains(msg, token) {
			t.Errorf("error leaks token %q: %s", token, msg)
		}
	}
}

func TestOpen_TokenFromConflicts(t *testing.T) {
	get := func() (string, error) { return "file-token-sekret", nil }
	for _, tc := range []struct {
		name, url string
		auth      Auth
		want      string
	}{
		{"with --git-token", "https://git.example.com/x.git", Auth{Token: "flag-token-sekret", TokenFrom: get}, "--git-token and --git-token-file"},
		{"with a URL password", "https://u:url-password-sekret@git.example.com/x.git", Auth{TokenFrom: get}, "password in the git URL"},
		{"with an SSH URL", "ssh://git@git.example.com/x.git", Auth{TokenFrom: get}, "SSH URL"},
		{"with a file URL", "file:///srv/x.git", Auth{TokenFrom: get}, "not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), Options{URL: tc.url, Auth: tc.auth, DataDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRotatingToken_RemembersTheLatestValuesOnly(t *testing.T) {
	var next string
	tok := newRotatingToken(func() (string, error) { return next, nil })
	for i := range maxRememberedTokens + 2 {
		next = fmt.Sprintf("token-%02d", i)
		if _, err := tok.current(); err != nil {
			t.Fatal(err)
		}
	}
	got := tok.values()
	if len(got) != maxRememberedTokens {
		t.Fatalf("remembers %d values, want %d: %v", len(got), maxRememberedTokens, got)
	}
	if got[0] != "token-02" || got[len(got)-1] != next {
		t.Errorf("values() = %v, want token-02 … %s", got, next)
	}
}
