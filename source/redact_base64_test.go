package source

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// base64Run is a run of characters of either base64 alphabet.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]+`)

// leaksEncoded reports whether any base64 text left in msg, decoded at any
// alignment, holds 3 consecutive bytes of secret.
func leaksEncoded(msg, secret string) bool {
	for _, run := range base64Run.FindAllString(msg, -1) {
		run = strings.NewReplacer("-", "+", "_", "/").Replace(run)
		for off := range 4 {
			if off >= len(run) {
				break
			}
			chunk := run[off:]
			chunk = chunk[:len(chunk)/4*4]
			decoded, _ := base64.RawStdEncoding.DecodeString(strings.TrimRight(chunk, "="))
			for i := 0; i+3 <= len(secret); i++ {
				if strings.Contains(string(decoded), secret[i:i+3]) {
					return true
				}
			}
		}
	}
	return false
}

func TestRedactor_ScrubsBase64Spellings(t *testing.T) {
	// Distinct characters: any 3 in a row identify the secret.
	const token = "ghp_Xq7Lm2Rz9Tv4Wk8Np3"
	red := newRedactor([]string{"bot", "", "git"}, token)
	basic := func(enc *base64.Encoding, user string) string { return enc.EncodeToString([]byte(user + ":" + token)) }
	tests := []struct {
		name, msg string
	}{
		{"basic auth echoed", "authentication required: auth=Basic " + basic(base64.StdEncoding, "git")},
		{"basic auth of another user", "Authorization: Basic " + basic(base64.StdEncoding, "bot")},
		{"basic auth, no padding", basic(base64.RawStdEncoding, "git")},
		{"basic auth, URL alphabet", basic(base64.URLEncoding, "bot")},
		{"basic auth, empty user", basic(base64.RawURLEncoding, "")},
		{"token alone", "token " + base64.StdEncoding.EncodeToString([]byte(token))},
		{"unknown user", "Basic " + basic(base64.StdEncoding, "someone-else")},
		{"inside encoded JSON, offset 0", base64.StdEncoding.EncodeToString([]byte(`{"t":"` + token + `"}`))},
		{"inside encoded JSON, offset 1", base64.StdEncoding.EncodeToString([]byte(`{"to":"` + token + `"}`))},
		{"inside encoded JSON, offset 2", base64.URLEncoding.EncodeToString([]byte(`{"tok":"` + token + `"}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !leaksEncoded(tt.msg, token) {
				t.Fatalf("test message %q does not hold the token; the check proves nothing", tt.msg)
			}
			got := red.wrap(errors.New(tt.msg)).Error()
			if leaksEncoded(got, token) || strings.Contains(got, token) {
				t.Errorf("redacted %q still encodes the token", got)
			}
			if !strings.Contains(got, redacted) {
				t.Errorf("redacted %q has no %s marker", got, redacted)
			}
		})
	}
}

func TestRedactor_LeavesOrdinaryTextAlone(t *testing.T) {
	red := newRedactor([]string{"git"}, "ghp_Xq7Lm2Rz9Tv4Wk8Np3")
	for _, msg := range []string{
		"fetch https://git.example.com/team/jobs.git: authentication required",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("git:another-token")),
	} {
		if got := red.string(msg); got != msg {
			t.Errorf("string(%q) = %q; nothing in it is the secret", msg, got)
		}
	}
}

func TestRedactor_CutsResponseBodies(t *testing.T) {
	red := newRedactor(nil, "tok3n")
	for _, sentinel := range []error{transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed, transport.ErrRepositoryNotFound} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			// go-git's own shape: fmt.Errorf("%w: %s", sentinel, body).
			err := fmt.Errorf("fetch https://x/y.git: %w", fmt.Errorf("%w: %s", sentinel, "<html>echo: Basic Z2l0OnNlY3JldA==</html>"))
			got := red.wrap(err)
			if want := "fetch https://x/y.git: " + sentinel.Error(); got.Error() != want {
				t.Errorf("wrap = %q, want %q", got, want)
			}
			if !errors.Is(got, sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", got, sentinel)
			}
		})
	}
	plain := errors.New("dial tcp: connection refused")
	if got := red.wrap(plain).Error(); got != plain.Error() {
		t.Errorf("wrap(%q) = %q", plain, got)
	}
}

// authEchoServer answers every request with status and a body quoting the
// Authorization header it was sent, as a misconfigured proxy might.
func authEchoServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "echo-marker auth="+r.Header.Get("Authorization"), status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetch_ErrorsCarryNoResponseBodyNorEncodedToken(t *testing.T) {
	const token = "glpat-Zx8Cv7Bn6Mq5Wr4"
	tests := []struct {
		name   string
		status int
		user   string
		want   error
	}{
		{"401 with the default user", http.StatusUnauthorized, "", transport.ErrAuthenticationRequired},
		{"401 with a username", http.StatusUnauthorized, "deploy-bot", transport.ErrAuthenticationRequired},
		{"403", http.StatusForbidden, "", transport.ErrAuthorizationFailed},
		{"404", http.StatusNotFound, "", transport.ErrRepositoryNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := authEchoServer(t, tt.status) + "/x.git"
			r, err := Open(context.Background(), Options{URL: url, Auth: Auth{Username: tt.user, Token: token}, DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Fetch(context.Background())
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "echo-marker") || strings.Contains(msg, "Basic") {
				t.Errorf("error quotes the response body: %s", msg)
			}
			if strings.Contains(msg, token) || leaksEncoded(msg, token) {
				t.Errorf("error leaks the token: %s", msg)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(msg, tt.want.Error()) || !strings.Contains(msg, url) {
				t.Errorf("error %q: want it to be %v and to name %s", msg, tt.want, url)
			}
		})
	}
}
