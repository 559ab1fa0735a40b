// Package ui is drover's web page: what runs, what drifted, what rolled
// back and why, drawn on the server from the agent's /v1/status document
// and its events, and kept live in the browser by a small script following
// GET /v1/events as Server-Sent Events. Everything is embedded: the page
// works on a network with no way out. It reads through narrow interfaces
// and knows nothing of the agent.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/drover-dev/drover/events"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Events is the agent's event bus: *events.Bus.
type Events interface {
	// Recent returns the kept events after seq, oldest first.
	Recent(after uint64) []events.Event
	// Subscribe feeds the events logged from now on until ctx ends.
	Subscribe(ctx context.Context, buffer int) <-chan events.Event
}

// Options configure the page.
type Options struct {
	// Status returns the /v1/status document to show: this replica's, or
	// on a standby the leader's. It must hold no secret.
	Status func(ctx context.Context) ([]byte, error)
	// Events are the agent's events; nil shows none.
	Events Events
	// Sync, when set, checks token (the agent's --api-token) and starts a
	// cycle; the page then offers "sync now". r is the form's request, for
	// its context and for the log of a refusal. It returns the HTTP status
	// and what to tell the person. Nil: the page offers no action.
	Sync func(r *http.Request, token string) (code int, message string)
	// NomadUIURL is the Nomad web UI's base, e.g. http://nomad:4646/ui;
	// "" links no job to it.
	NomadUIURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// maxPageEvents is how many events the page lists, newest first.
const maxPageEvents = 300

// contentSecurityPolicy lets the page load only its own script and style,
// talk only to its own origin and be framed by nobody: text from git or
// Nomad that slipped through escaping still could not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// UI serves the page.
type UI struct {
	opts   Options
	pages  map[string]*template.Template
	assets http.Handler
}

// New parses the templates; it fails only if they are broken.
func New(opts Options) (*UI, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	u := &UI{opts: opts, pages: map[string]*template.Template{}}
	for _, page := range []string{"index.html", "job.html"} {
		t, err := template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+page)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", page, err)
		}
		u.pages[page] = t
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	u.assets = http.StripPrefix("/assets/", http.FileServerFS(sub))
	return u, nil
}

// Register mounts the page on mux:
//
//	GET  /jobs/<namespace>/<name>  one job: why it is held, the plan, the rollback, the rollout,
//	                               the quarantined specs, the history and the job's events
//	GET  /assets/                  the page's script and style, embedded in the binary
//	POST /sync                     the page's "Sync now" form, with Options.Sync only: form field
//	                               token (or Authorization: Bearer); 303 back to /?sync=started
//
// GET / itself, the jobs, rollouts and events, is described with the
// agent's routes.
func (u *UI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", u.index)
	mux.HandleFunc("GET /jobs/{namespace}/{name...}", u.job)
	mux.Handle("GET /assets/", secure(u.assets))
	if u.opts.Sync != nil {
		mux.HandleFunc("POST /sync", u.sync)
	}
}

// secure sets the headers every answer of the page carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w)
		h.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// view is what both pages draw from.
type view struct {
	Doc      *statusDoc
	DocError string
	Now      time.Time
	Links    repoLinks
	Bake     time.Duration
	Rows     []row
	AllRows  int
	Query    string
	State    string
	States   []string
	Events   []eventView
	// Seq is the newest event the page shows; the script follows from it.
	Seq        uint64
	CanSync    bool
	Flash      string
	NomadUIURL string
	Job        *row
	JobEvents  []eventView
}

// NextSync says when the next cycle runs, as far as the page can tell.
func (v *view) NextSync() string {
	a, ls := v.Doc.Agent, v.Doc.LastSync
	var when string
	switch interval, err := time.ParseDuration(a["interval"]); {
	case a["schedule"] != "":
		when = "on schedule " + a["schedule"]
	case ls.Running:
		when = "after the one running"
	case ls.Finished != nil && !ls.OK:
		when = "on retry (backing off after the failure)"
	case ls.Finished != nil && err == nil:
		when = "in " + until(v.Now, ls.Finished.Add(interval)) + " (every " + a["interval"] + ")"
	case err == nil:
		when = "every " + a["interval"]
	default:
		when = "unknown"
	}
	var sooner []string
	if a["webhooks"] == "enabled" {
		sooner = append(sooner, "a push")
	}
	if a["cluster_watch"] == "enabled" {
		sooner = append(sooner, "a change in the cluster")
	}
	if len(sooner) > 0 {
		when += "; at once on " + strings.Join(sooner, " or ")
	}
	return when
}

func (u *UI) load(r *http.Request) *view {
	v := &view{Now: u.opts.Now().UTC(), CanSync: u.opts.Sync != nil, NomadUIURL: u.opts.NomadUIURL}
	for _, s := range statuses {
		v.States = append(v.States, s.word)
	}
	raw, err := u.opts.Status(r.Context())
	doc := &statusDoc{}
	if err == nil {
		err = json.Unmarshal(raw, doc)
	}
	if err != nil {
		v.DocError = "cannot read the agent's status: " + err.Error()
	}
	v.Doc = doc
	v.Links = newRepoLinks(doc.Agent["repo"])
	v.Bake, _ = time.ParseDuration(doc.Agent["bake"])
	v.Rows = doc.rows(v.Now, v.Bake)
	v.AllRows = len(v.Rows)
	if u.opts.Events != nil {
		all := u.opts.Events.Recent(0)
		v.Events = recentEvents(all, maxPageEvents, nil)
		if n := len(all); n > 0 {
			v.Seq = all[n-1].Seq
		}
	}
	return v
}

func (u *UI) index(w http.ResponseWriter, r *http.Request) {
	v := u.load(r)
	v.Query, v.State = strings.TrimSpace(r.URL.Query().Get("q")), r.URL.Query().Get("state")
	if v.Query != "" || v.State != "" {
		kept := v.Rows[:0]
		for _, row := range v.Rows {
			if row.matches(v.Query, v.State) {
				kept = append(kept, row)
			}
		}
		v.Rows = kept
	}
	switch r.URL.Query().Get("sync") {
	case "started":
		v.Flash = "Sync started."
	case "refused":
		v.Flash = "Sync refused: the token does not match --api-token."
	case "failed":
		v.Flash = "Sync could not be started; see the events below."
	}
	u.render(w, "index.html", v, http.StatusOK)
}

func (u *UI) job(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	v := u.load(r)
	for i := range v.Rows {
		if v.Rows[i].Namespace == ns && v.Rows[i].Name == name {
			v.Job = &v.Rows[i]
			break
		}
	}
	code := http.StatusOK
	if v.Job == nil {
		code = http.StatusNotFound
		v.Job = &row{Namespace: ns, Name: name, Status: "unknown"}
	}
	if u.opts.Events != nil {
		v.JobEvents = recentEvents(u.opts.Events.Recent(0), maxPageEvents, func(e events.Event) bool {
			return e.Str("job") == name && (e.Str("namespace") == ns || e.Str("namespace") == "")
		})
	}
	u.render(w, "job.html", v, code)
}

// sync is the "sync now" form. The token is the proof the request comes
// from someone allowed to act, so no other CSRF defence is needed; it is
// never written back to the page or the redirect.
func (u *UI) sync(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := r.PostFormValue("token")
	if token == "" {
		if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = t
		}
	}
	code, _ := u.opts.Sync(r, token)
	outcome := "started"
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		outcome = "refused"
	case code >= 300:
		outcome = "failed"
	}
	setSecurityHeaders(w)
	http.Redirect(w, r, "/?sync="+url.QueryEscape(outcome), http.StatusSeeOther)
}

func (u *UI) render(w http.ResponseWriter, page string, v *view, code int) {
	var b strings.Builder
	if err := u.pages[page].ExecuteTemplate(&b, "layout", v); err != nil {
		setSecurityHeaders(w)
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	setSecurityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}
