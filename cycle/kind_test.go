package cycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/failure"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/source"
	"github.com/drover-dev/drover/state"
	nomadapi "github.com/hashicorp/nomad/api"
)

// TestClassify: each adapter's error, made by the adapter, is classified
// with the same kind and the same words to act on as when the cycle kept a
// table of the adapters' error types; an error with no mark is transient.
func TestClassify(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := answering(t, http.StatusForbidden)
	failing := answering(t, http.StatusInternalServerError)
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		kind Kind
		fix  string
	}{
		{"ref not found", context.Background(), fmt.Errorf("resolve ref \"nope\": %w", source.ErrRefNotFound), Stalled, "git ref not found (check --ref, or push it)"},
		{"credentials", context.Background(), fmt.Errorf("fetch: %w", source.ErrAuthRefused), Stalled, "git credentials refused (check --git-token / --git-username)"},
		{"host key", context.Background(), fmt.Errorf("fetch: %w", source.ErrHostKey), Stalled, "SSH host key not trusted (check --ssh-known-hosts)"},
		{"var file too large", context.Background(), varFileTooLarge(t), Stalled, "var file too large (shrink it in a new commit)"},
		{"suspensions corrupt", context.Background(), corruptSuspensions(t), Stalled, "suspensions unreadable (fix or delete <state-prefix>suspend)"},
		{"nomad acl", context.Background(), nomadJob(t, refused), Stalled, `Nomad token lacks read-job in namespace "default" (add to its policy: namespace "default" { capabilities = ["read-job"] })`},
		{"nomad 500", context.Background(), nomadJob(t, failing), Transient, ""},
		{"consul acl", context.Background(), consulGet(t, refused), Stalled, "permission denied by Consul (check CONSUL_HTTP_TOKEN's ACL policy)"},
		{"consul 500", context.Background(), consulGet(t, failing), Transient, ""},
		{"network", context.Background(), errors.New("dial tcp 127.0.0.1:4646: connection refused"), Transient, ""},
		{"shutdown", cancelled, fmt.Errorf("fetch: %w", source.ErrRefNotFound), Interrupted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.ctx, StepFetch, tt.err)
			if f.Kind != tt.kind || f.Step != StepFetch || !errors.Is(f, tt.err) {
				t.Fatalf("classify = %+v, want kind %s wrapping the error", f, tt.kind)
			}
			if f.Fix != tt.fix {
				t.Errorf("Fix = %q, want %q", f.Fix, tt.fix)
			}
			if want := tt.err.Error(); tt.fix != "" {
				if want = tt.fix + ": " + want; f.Error() != want {
					t.Errorf("Error() = %q, want %q", f.Error(), want)
				}
			}
		})
	}
}

// answering is a server that answers every request with code.
func answering(t *testing.T, code int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func nomadJob(t *testing.T, addr string) error {
	api, err := nomadapi.NewClient(&nomadapi.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = nomad.Wrap(api).Job(context.Background(), "default", "web")
	if err == nil {
		t.Fatal("Job: no error")
	}
	return fmt.Errorf("plan: %w", err)
}

func consulGet(t *testing.T, addr string) error {
	t.Setenv("CONSUL_HTTP_ADDR", addr)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	c, err := consul.New(consul.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), "drover/x/jobs/default/web")
	if err == nil {
		t.Fatal("Get: no error")
	}
	return fmt.Errorf("read state: %w", err)
}

// varFileTooLarge is the error of a load whose var file is over the cap.
func varFileTooLarge(t *testing.T) error {
	l := &jobs.Loader{Vars: jobs.Variables{Files: []string{"prod.hcl"}}, MaxFileSize: 4}
	_, err := l.Load(context.Background(), fileTree{"prod.hcl": `region = "eu"`})
	var tooLarge *jobs.FileTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("Load = %v, want a FileTooLargeError", err)
	}
	return err
}

// corruptSuspensions is the error of reading a suspensions document that
// is not JSON.
func corruptSuspensions(t *testing.T) error {
	kv := &oneKey{pair: state.Pair{Key: "drover/x/suspend", Value: []byte("{not json"), ModifyIndex: 1}}
	_, _, err := control.NewStore(kv, "drover/x/suspend", time.Second).Read(context.Background())
	var corrupt *control.CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("Read = %v, want a CorruptError", err)
	}
	return err
}

type fileTree map[string]string

func (fileTree) Revision() string { return "c1" }
func (f fileTree) Files() ([]string, error) {
	var out []string
	for p := range f {
		out = append(out, p)
	}
	return out, nil
}
func (f fileTree) ReadFile(p string) ([]byte, error) { return []byte(f[p]), nil }

// oneKey is a KV holding one pair.
type oneKey struct{ pair state.Pair }

func (k *oneKey) List(context.Context, string) ([]state.Pair, error) {
	return []state.Pair{k.pair}, nil
}
func (k *oneKey) Get(context.Context, string) (*state.Pair, error) { return &k.pair, nil }
func (k *oneKey) CAS(context.Context, string, []byte, uint64) (bool, uint64, error) {
	return false, 0, errors.New("read only")
}

// An unmarked error wrapping a marked one still stalls: the mark is found
// however deep the error was wrapped on its way up.
func TestClassify_FindsTheStallUnderWrapping(t *testing.T) {
	stall := &failure.Stall{What: "permission denied by Nomad", Fix: "NOMAD_TOKEN lacks capability submit-job in namespace web", Err: errors.New("403")}
	f := classify(context.Background(), StepSync, fmt.Errorf("sync: %w", &failure.Transient{Err: fmt.Errorf("register web: %w", stall)}))
	if f.Kind != Stalled || f.Fix != "permission denied by Nomad (NOMAD_TOKEN lacks capability submit-job in namespace web)" {
		t.Errorf("classify = %+v", f)
	}
}
