package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

func TestServer_Endpoints(t *testing.T) {
	type step struct {
		method, path string
		wantCode     int
		wantBody     string
	}
	tests := []struct {
		name      string
		unhealthy bool
		steps     []step
	}{
		{
			name: "healthy by default",
			steps: []step{
				{"GET", "/", 200, "hello from hello 1.2.3\n"},
				{"GET", "/health", 200, "ok\n"},
			},
		},
		{
			name:      "started unhealthy still serves traffic",
			unhealthy: true,
			steps: []step{
				{"GET", "/health", 500, "unhealthy\n"},
				{"GET", "/", 200, "hello from hello 1.2.3\n"},
			},
		},
		{
			name: "admin endpoints flip health both ways",
			steps: []step{
				{"POST", "/admin/unhealthy", 200, "unhealthy\n"},
				{"GET", "/health", 500, "unhealthy\n"},
				{"POST", "/admin/healthy", 200, "ok\n"},
				{"GET", "/health", 200, "ok\n"},
			},
		},
		{
			name: "admin endpoints refuse GET so a crawler cannot flip health",
			steps: []step{
				{"GET", "/admin/unhealthy", 405, ""},
				{"GET", "/health", 200, "ok\n"},
			},
		},
		{
			name: "unknown paths are 404",
			steps: []step{
				{"GET", "/nope", 404, ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := logRequests(log.New(&logs, "", 0), newServer("1.2.3", tt.unhealthy, 0))
			for _, s := range tt.steps {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(s.method, s.path, nil))
				if rec.Code != s.wantCode {
					t.Errorf("%s %s: status %d, want %d", s.method, s.path, rec.Code, s.wantCode)
				}
				if s.wantBody != "" && rec.Body.String() != s.wantBody {
					t.Errorf("%s %s: body %q, want %q", s.method, s.path, rec.Body.String(), s.wantBody)
				}
			}
			if got, want := strings.Count(logs.String(), "\n"), len(tt.steps); got != want {
				t.Errorf("logged %d lines for %d requests:\n%s", got, want, logs.String())
			}
		})
	}
}

func TestDefaults_FromEnvironment(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got := defaultAddr(getenv); got != "127.0.0.1:8080" {
		t.Errorf("defaultAddr without PORT = %q", got)
	}
	env["PORT"] = "9999"
	if got := defaultAddr(getenv); got != ":9999" {
		t.Errorf("defaultAddr with PORT = %q", got)
	}
	if envBool(getenv, "HELLO_UNHEALTHY") {
		t.Error("HELLO_UNHEALTHY unset should be healthy")
	}
	env["HELLO_UNHEALTHY"] = "true"
	if !envBool(getenv, "HELLO_UNHEALTHY") {
		t.Error("HELLO_UNHEALTHY=true should be unhealthy")
	}
}

func TestRun_ServesThenShutsDownOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"HELLO_VERSION": "9.9.9", "HELLO_UNHEALTHY": "true"}
	var stdout, stderr testutil.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()

	listening := regexp.MustCompile(`listening on (\S+)`)
	var addr string
	testutil.WaitFor(t, 10*time.Second, "hello to log its address", func() (bool, string) {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
			return true, ""
		}
		return false, fmt.Sprintf("stdout %q stderr %q", stdout.String(), stderr.String())
	})

	for path, want := range map[string]string{"/": "hello from hello 9.9.9\n", "/health": "unhealthy\n"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("GET %s = %q, want %q", path, body, want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stdout.String(), "stopped") {
		t.Errorf("no shutdown line in %q", stdout.String())
	}
}

func TestRun_BadFlagIsUsageError(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-bogus"}, func(string) string { return "" }, &out, &out); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

// TestHealth_UnhealthyForPassesOnceWarm: a slow starter fails /health for
// its warm-up, then passes without being told.
func TestHealth_UnhealthyForPassesOnceWarm(t *testing.T) {
	h := newServer("1.2.3", false, time.Hour).(*http.ServeMux)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("during the warm-up: %d, want 500", rec.Code)
	}
	warm := newServer("1.2.3", false, -time.Second)
	rec = httptest.NewRecorder()
	warm.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after the warm-up: %d, want 200", rec.Code)
	}
}
