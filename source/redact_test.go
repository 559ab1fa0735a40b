package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestRedactor_ScrubsEverySpelling(t *testing.T) {
	red := newRedactor(nil, "p@ss/word", "", "tok3n")
	tests := []struct {
		name, msg string
	}{
		{"raw", "auth failed for p@ss/word"},
		{"query escaped", "GET https://x/?pw=p%40ss%2Fword"},
		{"path escaped", "GET https://x/p@ss%2Fword"},
		{"userinfo escaped", "GET https://git:p%40ss%2Fword@x/"},
		{"second secret", "token tok3n rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := red.wrap(errors.New(tt.msg))
			for _, leak := range []string{"p@ss", "p%40ss", "tok3n"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("redacted error %q still contains %q", err, leak)
				}
			}
			if !strings.Contains(err.Error(), redacted) {
				t.Fatalf("redacted error %q has no %s marker", err, redacted)
			}
		})
	}
	if red.wrap(nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}

func TestRedactor_KeepsErrorsIs(t *testing.T) {
	red := newRedactor(nil, "sekret")
	err := fmt.Errorf("outer: %w", red.wrap(fmt.Errorf("sekret: %w", context.DeadlineExceeded)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
	}
	if errors.Unwrap(errors.Unwrap(err)) != nil {
		t.Error("redacted error unwraps to the original, whose text holds the secret")
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// echoServer answers every request with 401 and a body quoting the
// credentials it was sent, as a misbehaving proxy might.
func echoServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		http.Error(w, "bad credentials "+user+":"+pass+" for "+r.URL.String(), http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOpen_ErrorsDoNotLeakSecrets(t *testing.T) {
	closed := closedPort(t)
	echo := echoServer(t)
	tests := []struct {
		name     string
		url      string
		auth     Auth
		secret   string
		wantURL  string
		wantAuth bool // the server answered 401
	}{
		{"password in URL, closed port", "https://user:sekret@" + closed + "/x.git", Auth{}, "sekret", "https://user@" + closed + "/x.git", false},
		{"token, closed port", "http://" + closed + "/x.git", Auth{Token: "tok3n-sekret"}, "tok3n-sekret", "http://" + closed + "/x.git", false},
		{"token echoed in 401 body", echo + "/x.git", Auth{Token: "tok3n-sekret"}, "tok3n-sekret", echo + "/x.git", true},
		{"URL password echoed in 401 body", strings.Replace(echo, "://", "://bot:p%40ss-sekret@", 1) + "/x.git", Auth{}, "p@ss-sekret", "bot@", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(context.Background(), Options{URL: tt.url, Auth: tt.auth, DataDir: t.TempDir()})
			if err != nil {
				t.Fatalf("Open must not connect, and so cannot fail here: %v", err)
			}
			_, err = r.Fetch(context.Background())
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			msg := err.Error()
			for _, leak := range []string{tt.secret, strings.ReplaceAll(tt.secret, "@", "%40")} {
				if strings.Contains(msg, leak) {
					t.Fatalf("error leaks the secret: %s", msg)
				}
			}
			if !strings.Contains(msg, tt.wantURL) {
				t.Errorf("error %q does not name the URL %q", msg, tt.wantURL)
			}
			if got := errors.Is(err, transport.ErrAuthenticationRequired); got != tt.wantAuth {
				t.Errorf("errors.Is(err, ErrAuthenticationRequired) = %v, want %v (err: %s)", got, tt.wantAuth, msg)
			}
		})
	}
}
