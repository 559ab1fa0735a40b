// Package source is drover's git source. It keeps a bare clone of the
// deploy repository under the data directory, fetches it incrementally,
// resolves the configured ref (branch, tag, full commit SHA, or the remote's
// default branch) to a commit, and exposes that commit's files as a
// read-only Snapshot read straight from the object store: there is no
// worktree to go stale or half-update. Dir offers the same read-only view
// over a plain directory, for `drover plan --dir`.
//
// The clone lives at DataDir/git/<hash of the URL without its password>.
// Branches are fetched into refs/remotes/origin/*, tags into refs/tags/*,
// both forced and pruned, so the clone follows force-pushes and deletions.
// The clone's HEAD names the remote's default branch as last seen.
//
// Remotes may be https, http, ssh (ssh:// or scp-like user@host:path),
// git://, file:// or a local path. file:// URLs and local paths need the git
// binary on PATH: go-git's file transport runs git-upload-pack.
//
// Credentials never reach disk (the clone's config holds the URL without
// its password) and are scrubbed from every error this package returns.
//
// Repo and Snapshot are safe for concurrent use. One mutex guards the
// clone, because go-git's on-disk storage is not safe for concurrent use;
// reading a Snapshot therefore waits for a Fetch in progress.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/failure"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/rs/zerolog"
)

// The errors a source stalls on: each is a failure.Stall saying what to
// fix, and wrapped (errors.Is) by the errors that meet it.
var (
	// ErrRefNotFound is a branch, tag or commit that the remote does not
	// have: the configured ref needs fixing, and retrying will not help
	// until someone pushes it.
	ErrRefNotFound error = &failure.Stall{What: "git ref not found", Fix: "check --ref, or push it", Err: errors.New("ref not found")}
	// ErrAuthRefused is credentials the remote refused (HTTP 401 or 403):
	// retrying will not help until they are fixed.
	ErrAuthRefused error = &failure.Stall{What: "git credentials refused", Fix: "check --git-token / --git-username", Err: errors.New("git credentials refused")}
	// ErrHostKey is an SSH server whose host key is not the one
	// --ssh-known-hosts holds for it (or is not listed there at all).
	ErrHostKey error = &failure.Stall{What: "SSH host key not trusted", Fix: "check --ssh-known-hosts", Err: errors.New("SSH host key not trusted")}
)

// Options configures Open.
type Options struct {
	// URL is the remote: https://, http://, ssh://, scp-like git@host:path,
	// git://, file:// or a local path. A password in an http(s) URL is used
	// as basic auth and never stored.
	URL string
	// Ref is a branch name, tag name or full 40-hex commit SHA. Empty means
	// the remote's default branch (where its HEAD points).
	Ref string
	// DataDir holds the clone, under DataDir/git/.
	DataDir string
	Auth    Auth
	// Logger receives only the warning that SSH host key checking is off,
	// unless Emitter is set.
	Logger zerolog.Logger
	// Emitter writes that warning, git.insecure_host_key, to the log and
	// the bus (default: to Logger only).
	Emitter *events.Emitter
}

// Repo is a bare clone of one remote, tracking one ref.
type Repo struct {
	url    string
	ref    string
	dir    string
	auth   transport.AuthMethod
	redact redactor

	mu  sync.Mutex // guards git: go-git storage is not safe for concurrent use
	git *git.Repository

	// refName is what RefName returns. It has its own lock so that a
	// webhook asking for it never waits for a fetch in progress.
	refMu   sync.Mutex
	refName string
}

// fetchSpecs mirrors the remote's branches and tags; "+" follows
// force-pushes and moved tags.
var fetchSpecs = []config.RefSpec{
	"+refs/heads/*:refs/remotes/origin/*",
	"+refs/tags/*:refs/tags/*",
}

// Open validates opts, builds the credentials, and opens the clone if it
// exists. A missing clone is made (bare, full history) by the first Fetch.
func Open(ctx context.Context, opts Options) (*Repo, error) {
	ep, err := parseEndpoint(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open git source: %w", err)
	}
	// Every user a basic-auth header could name: --git-username, the URL's
	// user, and "git", httpAuth's default with a token and no username.
	users := []string{opts.Auth.Username, ep.user, "git"}
	tok := newRotatingToken(opts.Auth.TokenFrom)
	red := redactor{users: users, secrets: func() []string {
		return append([]string{opts.Auth.Token, opts.Auth.SSHKeyPassphrase, ep.password}, tok.values()...)
	}}
	r, err := open(ctx, ep, opts, tok, red)
	if err != nil {
		return nil, red.wrap(fmt.Errorf("open git source %s: %w", ep.clean, err))
	}
	return r, nil
}

func open(ctx context.Context, ep endpoint, opts Options, tok *rotatingToken, red redactor) (*Repo, error) {
	if opts.DataDir == "" {
		return nil, errors.New("no data directory given")
	}
	ref := strings.TrimSpace(opts.Ref)
	if isFullSHA(ref) {
		ref = strings.ToLower(ref)
	} else if ref != "" && plumbing.NewBranchReferenceName(ref).Validate() != nil {
		// Git would refuse it as a branch or tag name: no push can ever
		// make it exist, so it is a configuration error, not a stall.
		return nil, fmt.Errorf("--ref %q is not a valid branch or tag name", ref)
	}
	if ep.kind == kindFile {
		if err := checkGitBinary(); err != nil {
			return nil, err
		}
	}
	if opts.Emitter == nil {
		opts.Emitter = events.NewEmitter(opts.Logger, nil)
	}
	auth, err := buildAuth(ep, opts.Auth, tok, opts.Emitter)
	if err != nil {
		return nil, err
	}
	r := &Repo{
		url:    ep.clean,
		ref:    ref,
		dir:    filepath.Join(opts.DataDir, "git", cloneName(ep.clean)),
		auth:   auth,
		redact: red,
	}
	if isFullSHA(ref) {
		r.refName = ref // a commit is known without asking the remote
	}
	switch _, statErr := os.Stat(r.dir); {
	case statErr == nil:
		r.git, err = r.openClone()
	case errors.Is(statErr, os.ErrNotExist):
		// Cloned by the first Fetch: a remote that is down at start-up is
		// a failed cycle to retry, not a reason to exit.
	default:
		err = statErr
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// URL returns the remote URL without any password; safe to log.
func (r *Repo) URL() string { return r.url }

// RefName is the full name of the remote ref the repo follows, for
// matching push events: refs/heads/<branch> or refs/tags/<tag>, as the
// last successful Fetch resolved it (a name is a branch when the remote
// has that branch, else a tag; no ref is the remote's default branch,
// which may move). A ref given as a commit SHA is returned as that SHA,
// which no push names. Before the first successful Fetch of a branch or
// tag name it is "": not known yet.
func (r *Repo) RefName() string {
	r.refMu.Lock()
	defer r.refMu.Unlock()
	return r.refName
}

func (r *Repo) setRefName(name string) {
	r.refMu.Lock()
	defer r.refMu.Unlock()
	r.refName = name
}

// cloneName is the clone's directory name: a short hash of the
// password-free URL, so a rotated token keeps the same clone.
func cloneName(cleanURL string) string {
	sum := sha256.Sum256([]byte(cleanURL))
	return hex.EncodeToString(sum[:8])
}

// openClone opens an existing clone and checks it belongs to this URL.
func (r *Repo) openClone() (*git.Repository, error) {
	repo, err := git.PlainOpen(r.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("clone directory %s exists but is not a git repository; remove it", r.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open clone %s: %w", r.dir, err)
	}
	remote, err := repo.Remote("origin")
	if err != nil {
		return nil, fmt.Errorf("clone directory %s has no origin remote; remove it: %w", r.dir, err)
	}
	if urls := remote.Config().URLs; len(urls) == 0 || urls[0] != r.url {
		return nil, fmt.Errorf("clone directory %s belongs to another remote (%s); remove it or use another data directory", r.dir, strings.Join(urls, ", "))
	}
	return repo, nil
}

// clone creates the clone in a temporary directory and renames it into
// place, so a crash mid-clone never leaves a half-filled clone behind.
func (r *Repo) clone(ctx context.Context) (_ *git.Repository, err error) {
	parent := filepath.Dir(r.dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".clone-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	repo, err := git.PlainInit(tmp, true)
	if err != nil {
		return nil, fmt.Errorf("init clone: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.url}, Fetch: fetchSpecs}); err != nil {
		return nil, fmt.Errorf("init clone: %w", err)
	}
	if err := fetch(ctx, repo, r.auth); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, r.dir); err != nil {
		if _, statErr := os.Stat(r.dir); statErr == nil {
			// Another process cloned the same remote first; use its clone.
			_ = os.RemoveAll(tmp)
			return r.openClone()
		}
		return nil, err
	}
	// go-git's storage is bound to the temporary path; reopen at the final one.
	return r.openClone()
}

// checkGitBinary fails early when go-git's file transport could not run:
// it execs git-upload-pack, found on PATH or via `git --exec-path`.
func checkGitBinary() error {
	if _, err := exec.LookPath(transport.UploadPackServiceName); err == nil {
		return nil
	}
	if _, err := exec.LookPath("git"); err == nil {
		return nil
	}
	return errors.New("file:// URLs and local paths need the git binary (git-upload-pack) on PATH")
}
