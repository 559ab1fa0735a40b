// Package forgetest fakes the GitHub and GitLab REST routes drover calls,
// in-process, for tests: each checks the method, path, auth header and
// JSON body against the providers' documented fields, keeps what it got,
// and can be made to fail (500) or hang.
package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault makes the fake misbehave.
type Fault int

// Faults.
const (
	OK Fault = iota
	// Fail answers every request 500.
	Fail
	// Hang holds every request until the client gives up.
	Hang
)

// Comment is a pull or merge request comment the fake holds.
type Comment struct {
	ID     int64
	Number int
	Body   string
}

// Status is a commit status the fake was sent.
type Status struct {
	Commit, State, Context, Description, TargetURL string
	At                                             time.Time
}

// Call is one request, as the fake saw it.
type Call struct {
	Method, Path string
}

// Server is a fake of one provider.
type Server struct {
	*httptest.Server
	t        testing.TB
	token    string
	provider string
	repo     string

	mu       sync.Mutex
	fault    Fault
	nextID   int64
	comments []*Comment
	statuses []Status
	calls    []Call
	problems []string
	hang     chan struct{}
}

// NewGitHub fakes GitHub's REST API for repository owner/name.
func NewGitHub(t testing.TB, repo, token string) *Server {
	return start(t, "github", repo, token)
}

// NewGitLab fakes GitLab's REST API (under /api/v4) for project, a path
// or numeric ID as drover is told.
func NewGitLab(t testing.TB, project, token string) *Server {
	return start(t, "gitlab", project, token)
}

func start(t testing.TB, provider, repo, token string) *Server {
	s := &Server{t: t, token: token, provider: provider, repo: repo, nextID: 1000, hang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		if s.fault == Hang {
			close(s.hang)
			s.fault = OK
		}
		s.mu.Unlock()
		s.Close()
	})
	return s
}

// SetFault changes how the fake answers from now on.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == Hang && f != Hang {
		close(s.hang)
		s.hang = make(chan struct{})
	}
	s.fault = f
}

// Comments returns the comments held, oldest first.
func (s *Server) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		out = append(out, *c)
	}
	return out
}

// AddComment puts a comment there, as a person would.
func (s *Server) AddComment(number int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.comments = append(s.comments, &Comment{ID: s.nextID, Number: number, Body: body})
}

// Statuses returns the statuses set, in order.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.statuses...)
}

// Calls returns every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Problems are the requests that broke the provider's documented contract;
// a test should find none.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// APIURL is what drover's --github-api-url or --gitlab-url is set to.
func (s *Server) APIURL() string {
	if s.provider == "github" {
		return s.URL + "/api/v3/"
	}
	return s.URL
}

var (
	ghComments = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/issues/(\d+)/comments$`)
	ghComment  = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/issues/comments/(\d+)$`)
	ghStatus   = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$`)
	glNotes    = regexp.MustCompile(`^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes$`)
	glNote     = regexp.MustCompile(`^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$`)
	glStatus   = regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40})$`)
)

func (s *Server) problem(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
	http.Error(w, msg, code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// EscapedPath: GitLab project paths arrive URL-encoded (group%2Fname).
	path := r.URL.EscapedPath()
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: path})
	fault, hang := s.fault, s.hang
	s.mu.Unlock()
	switch fault {
	case Fail:
		http.Error(w, `{"message":"fault injected"}`, http.StatusInternalServerError)
		return
	case Hang:
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	s.route(w, r, path)
}

// route is one endpoint of a provider's API: a path pattern whose first
// group is the repository, and what answers it.
type route struct {
	path  *regexp.Regexp
	serve func(s *Server, w http.ResponseWriter, r *http.Request, path string, m []string)
}

// routes are the endpoints of the provider's API drover uses.
func (s *Server) routes() []route {
	if s.provider == "github" {
		return []route{
			{ghComments, (*Server).ghComments},
			{ghComment, (*Server).ghComment},
			{ghStatus, (*Server).ghStatus},
		}
	}
	return []route{
		{glNotes, (*Server).glNotes},
		{glNote, (*Server).glNote},
		{glStatus, (*Server).glStatus},
	}
}

// route authenticates the request and passes it to its endpoint.
func (s *Server) route(w http.ResponseWriter, r *http.Request, path string) {
	if !s.authorized(w, r) {
		return
	}
	for _, rt := range s.routes() {
		if m := rt.path.FindStringSubmatch(path); m != nil && s.repoIs(w, m[1]) {
			rt.serve(s, w, r, path, m)
			return
		}
	}
	s.problem(w, http.StatusNotFound, "%s: no route %s %s", s.provider, r.Method, path)
}

// authorized checks the token in the header the provider reads it from.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.provider == "github" {
		if got := r.Header.Get("Authorization"); got != "Bearer "+s.token && got != "token "+s.token {
			s.problem(w, http.StatusUnauthorized, "github: Authorization header %q", redact(got))
			return false
		}
		return true
	}
	if got := r.Header.Get("PRIVATE-TOKEN"); got != s.token {
		s.problem(w, http.StatusUnauthorized, "gitlab: PRIVATE-TOKEN header %q", redact(got))
		return false
	}
	return true
}

func (s *Server) ghComments(w http.ResponseWriter, r *http.Request, path string, m []string) {
	n, _ := strconv.Atoi(m[2])
	s.listOrCreate(w, r, path, n, s.ghCommentJSON, s.ghCommentJSON)
}

func (s *Server) ghComment(w http.ResponseWriter, r *http.Request, path string, m []string) {
	id, _ := strconv.ParseInt(m[2], 10, 64)
	if s.methodIs(w, r, path, http.MethodPatch) {
		s.editComment(w, r, id, 0, fmt.Sprintf("github: no comment %d", id), s.ghCommentJSON)
	}
}

func (s *Server) ghStatus(w http.ResponseWriter, r *http.Request, path string, m []string) {
	var b struct {
		State       string  `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if !s.posted(w, r, path, &b) {
		return
	}
	switch {
	case b.State != "pending" && b.State != "success" && b.State != "failure" && b.State != "error":
		s.problem(w, http.StatusUnprocessableEntity, "github: status state %q", b.State)
		return
	case b.Description != nil && len([]rune(*b.Description)) > 140:
		s.problem(w, http.StatusUnprocessableEntity, "github: description of %d characters (max 140)", len([]rune(*b.Description)))
		return
	case b.Context == nil || *b.Context == "":
		s.problem(w, http.StatusUnprocessableEntity, "github: status without a context")
		return
	}
	st := Status{Commit: m[2], State: b.State, Context: *b.Context, Description: deref(b.Description), TargetURL: deref(b.TargetURL), At: time.Now()}
	s.addStatus(st)
	writeJSON(w, http.StatusCreated, map[string]any{"id": time.Now().UnixNano(), "state": b.State, "context": st.Context})
}

func (s *Server) glNotes(w http.ResponseWriter, r *http.Request, path string, m []string) {
	n, _ := strconv.Atoi(m[2])
	s.listOrCreate(w, r, path, n, func(c *Comment) map[string]any {
		return map[string]any{"id": c.ID, "body": c.Body, "system": false}
	}, glNoteJSON)
}

func (s *Server) glNote(w http.ResponseWriter, r *http.Request, path string, m []string) {
	n, _ := strconv.Atoi(m[2])
	id, _ := strconv.ParseInt(m[3], 10, 64)
	if s.methodIs(w, r, path, http.MethodPut) {
		s.editComment(w, r, id, n, fmt.Sprintf("gitlab: no note %d on !%d", id, n), glNoteJSON)
	}
}

func (s *Server) glStatus(w http.ResponseWriter, r *http.Request, path string, m []string) {
	var b struct {
		State       string  `json:"state"`
		Name        *string `json:"name"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
	}
	if !s.posted(w, r, path, &b) {
		return
	}
	switch b.State {
	case "pending", "running", "success", "failed", "canceled", "skipped":
	default:
		s.problem(w, http.StatusBadRequest, "gitlab: status state %q", b.State)
		return
	}
	if b.Name == nil || *b.Name == "" {
		s.problem(w, http.StatusBadRequest, "gitlab: status without a name")
		return
	}
	st := Status{Commit: m[2], State: b.State, Context: *b.Name, Description: deref(b.Description), TargetURL: deref(b.TargetURL), At: time.Now()}
	s.addStatus(st)
	writeJSON(w, http.StatusCreated, map[string]any{"id": time.Now().UnixNano(), "status": b.State, "name": st.Context})
}

// posted reads the JSON body of a POST into v (see decode).
func (s *Server) posted(w http.ResponseWriter, r *http.Request, path string, v any) bool {
	return s.methodIs(w, r, path, http.MethodPost) && s.decode(w, r, v)
}

// methodIs checks the request's method is the one the route takes.
func (s *Server) methodIs(w http.ResponseWriter, r *http.Request, path, method string) bool {
	if r.Method != method {
		s.problem(w, http.StatusMethodNotAllowed, "%s: %s %s, want %s", s.provider, r.Method, path, method)
		return false
	}
	return true
}

// listOrCreate answers the comments route of pull or merge request n:
// GET lists its comments, each as listed renders it; POST adds one and
// answers with created's rendering of it.
func (s *Server) listOrCreate(w http.ResponseWriter, r *http.Request, path string, n int, listed, created func(*Comment) map[string]any) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.list(n, listed))
	case http.MethodPost:
		body, ok := s.bodyField(w, r)
		if ok {
			writeJSON(w, http.StatusCreated, created(s.create(n, body)))
		}
	default:
		s.problem(w, http.StatusMethodNotAllowed, "%s: %s %s", s.provider, r.Method, path)
	}
}

// editComment answers an edit of comment id (on merge request n, when not
// 0) with render of the edited comment, or with notFound when there is no
// such comment.
func (s *Server) editComment(w http.ResponseWriter, r *http.Request, id int64, n int, notFound string, render func(*Comment) map[string]any) {
	body, ok := s.bodyField(w, r)
	if !ok {
		return
	}
	c := s.edit(id, n, body)
	if c == nil {
		s.problem(w, http.StatusNotFound, "%s", notFound)
		return
	}
	writeJSON(w, http.StatusOK, render(c))
}

func (s *Server) addStatus(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = append(s.statuses, st)
}

// repoIs checks the repository in the path is the one the fake serves.
func (s *Server) repoIs(w http.ResponseWriter, got string) bool {
	want := s.repo
	if s.provider == "gitlab" {
		want = strings.ReplaceAll(s.repo, "/", "%2F")
	}
	if got != want {
		s.problem(w, http.StatusNotFound, "%s: repository %q, want %q", s.provider, got, want)
		return false
	}
	return true
}

func (s *Server) list(n int, render func(*Comment) map[string]any) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, c := range s.comments {
		if c.Number == n {
			out = append(out, render(c))
		}
	}
	return out
}

func (s *Server) create(n int, body string) *Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c := &Comment{ID: s.nextID, Number: n, Body: body}
	s.comments = append(s.comments, c)
	return c
}

// edit changes comment id; n, when not 0, is the merge request it must be on.
func (s *Server) edit(id int64, n int, body string) *Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comments {
		if c.ID == id && (n == 0 || c.Number == n) {
			c.Body = body
			return c
		}
	}
	return nil
}

func (s *Server) htmlURL(c *Comment) string {
	return fmt.Sprintf("https://github.example/%s/pull/%d#issuecomment-%d", s.repo, c.Number, c.ID)
}

func (s *Server) ghCommentJSON(c *Comment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body, "html_url": s.htmlURL(c)}
}

func glNoteJSON(c *Comment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body}
}

// bodyField reads the one documented field of a comment write: body.
func (s *Server) bodyField(w http.ResponseWriter, r *http.Request) (string, bool) {
	var b struct {
		Body *string `json:"body"`
	}
	if !s.decode(w, r, &b) {
		return "", false
	}
	if b.Body == nil || *b.Body == "" {
		s.problem(w, http.StatusUnprocessableEntity, "%s: comment without a body", s.provider)
		return "", false
	}
	return *b.Body, true
}

// decode reads a JSON body, refusing fields the provider does not
// document for the route.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.problem(w, http.StatusUnsupportedMediaType, "%s: Content-Type %q", s.provider, ct)
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.problem(w, http.StatusBadRequest, "%s: body: %v", s.provider, err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func redact(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
