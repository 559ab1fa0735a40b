package source

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/go-git/go-git/v5/plumbing"
)

// FuzzParseEndpoint checks, for any --git-url, that the clean URL drover
// stores and logs carries no password, that only an http(s) URL may carry
// one, that an error never quotes it, that the scheme decides the
// transport, and that a well-formed URL's clean form parses to itself.
func FuzzParseEndpoint(f *testing.F) {
	kinds := map[string]transportKind{"http": kindHTTP, "https": kindHTTP, "ssh": kindSSH, "git": kindGit, "file": kindFile}
	f.Fuzz(func(t *testing.T, raw string) {
		u, uerr := url.Parse(raw)
		password := ""
		// Without "://" the input is a path or scp-like address, which has
		// no password to keep out.
		if uerr == nil && u.User != nil && strings.Contains(raw, "://") {
			password, _ = u.User.Password()
		}
		// Only a password that is nowhere else in the input can be told
		// apart from the rest of it.
		distinct := len(password) >= 4 && !strings.Contains(strings.Replace(raw, password, "", 1), password)
		e, err := parseEndpoint(raw)
		if err != nil {
			if distinct && strings.Contains(err.Error(), password) {
				t.Fatalf("parseEndpoint(%q) error quotes the password: %v", raw, err)
			}
			return
		}
		if e.password != "" && e.kind != kindHTTP {
			t.Fatalf("parseEndpoint(%q): a password on a %d URL", raw, e.kind)
		}
		if distinct && strings.Contains(e.clean, password) {
			t.Fatalf("clean URL %q of %q holds the password", e.clean, raw)
		}
		if !strings.Contains(raw, "://") || uerr != nil {
			return
		}
		cu, err := url.Parse(e.clean)
		if err != nil {
			t.Fatalf("clean URL %q of %q does not parse: %v", e.clean, raw, err)
		}
		if _, has := cu.User.Password(); has {
			t.Fatalf("clean URL %q of %q keeps a password", e.clean, raw)
		}
		if _, ok := kinds[u.Scheme]; !ok || u.Host == "" || strings.ContainsFunc(raw, unicode.IsControl) {
			// Not well-formed ("git://", "file://", "http:://", control
			// characters):
			// accepted, but its transport and clean form are go-git's guess.
			return
		}
		if want := kinds[u.Scheme]; e.kind != want {
			t.Fatalf("parseEndpoint(%q): kind %d for scheme %q, want %d", raw, e.kind, u.Scheme, want)
		}
		again, err := parseEndpoint(e.clean)
		if err != nil {
			t.Fatalf("clean URL %q of %q does not parse again: %v", e.clean, raw, err)
		}
		if again.clean != e.clean || again.kind != e.kind || again.password != "" {
			t.Fatalf("clean URL %q of %q parses to %+v", e.clean, raw, again)
		}
	})
}

// FuzzRedactor checks, for any user and secret, that the secret leaves no
// known spelling in a redacted message: verbatim, URL-escaped, or
// base64-encoded alone or as the basic-auth pair an echoed Authorization
// header carries, which is redacted whole.
func FuzzRedactor(f *testing.F) {
	f.Fuzz(func(t *testing.T, user, secret string) {
		red := newRedactor([]string{user}, secret)
		const header, before, between, after = "Authorization: Basic ", "auth failed: ", " (", ")"
		if fixed := header + redacted + before + redacted + between + redacted + after; len(secret) < 4 || red.string(fixed) != fixed {
			// The secret is spelled in the fixed text or the marker: what
			// the redactor replaces there is not a leak.
			return
		}
		forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
		for _, enc := range base64Encodings {
			forms = append(forms, enc.EncodeToString([]byte(secret)), enc.EncodeToString([]byte(user+":"+secret)))
		}
		for _, form := range forms {
			msg := before + form + between + form + after
			out := red.string(msg)
			for _, leak := range forms {
				if strings.Contains(out, leak) {
					t.Fatalf("string(%q) = %q still holds %q", msg, out, leak)
				}
			}
		}
		for _, enc := range base64Encodings {
			echoed := header + enc.EncodeToString([]byte(user+":"+secret))
			if got := red.string(echoed); got != header+redacted {
				t.Fatalf("string(%q) = %q, want the credentials redacted whole", echoed, got)
			}
		}
		err := red.wrap(errors.Join(errors.New(secret), context.Canceled))
		if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), secret) {
			t.Fatalf("wrap = %q (Is Canceled %v)", err, errors.Is(err, context.Canceled))
		}
	})
}

// refOrigin is a remote with branches, a lightweight and an annotated tag,
// and a name that is both a branch and a tag, cloned once per fuzz run.
type refOrigin struct {
	dir, data string
	c1, c2    string
	branches  map[string]string // name → commit
	tags      map[string]string // name → commit, peeled
}

func newRefOrigin(tb testing.TB) *refOrigin {
	o := newOrigin(tb, "main")
	c1 := o.commit(map[string]string{"a.nomad": "1"})
	o.git("tag", "v1")
	o.git("tag", "v3")
	o.git("checkout", "-q", "-b", "feature/x")
	c2 := o.commit(map[string]string{"a.nomad": "2"})
	o.git("tag", "-a", "-m", "annotated", "v2")
	o.git("branch", "v3")
	o.git("checkout", "-q", "main")
	ro := &refOrigin{
		dir: o.dir, data: tb.TempDir(), c1: c1, c2: c2,
		branches: map[string]string{"main": c1, "feature/x": c2, "v3": c2},
		tags:     map[string]string{"v1": c1, "v2": c2, "v3": c1},
	}
	mustFetch(tb, mustOpen(tb, Options{URL: ro.dir, Ref: "main", DataDir: ro.data}))
	return ro
}

// FuzzResolveRef resolves any --ref against a clone whose refs are known
// and checks the answer against them: a name is a branch if the remote has
// that branch, else a tag; a full SHA is a commit of the clone; anything
// else is ErrRefNotFound, never another ref or file of the clone.
func FuzzResolveRef(f *testing.F) {
	ro := newRefOrigin(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, ref string) {
		want := strings.TrimSpace(ref)
		if want == "" {
			return // the remote's default branch: asks the remote
		}
		r, err := Open(ctx, Options{URL: ro.dir, Ref: ref, DataDir: ro.data})
		invalid := !isFullSHA(want) && plumbing.NewBranchReferenceName(want).Validate() != nil
		if invalid {
			// A name git itself refuses can never be pushed: refused at once.
			if err == nil || !strings.Contains(err.Error(), "not a valid branch or tag name") {
				t.Fatalf("Open(--ref %q) = %v; want it refused as an invalid name", ref, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		r.mu.Lock()
		hash, name, err := r.resolve(ctx)
		r.mu.Unlock()

		wantHash, wantName := "", ""
		switch lower := strings.ToLower(want); {
		case isFullSHA(want) && (lower == ro.c1 || lower == ro.c2):
			wantHash, wantName = lower, lower
		case ro.branches[want] != "":
			wantHash, wantName = ro.branches[want], "refs/heads/"+want
		case ro.tags[want] != "":
			wantHash, wantName = ro.tags[want], "refs/tags/"+want
		}
		if wantHash == "" {
			if !errors.Is(err, ErrRefNotFound) {
				t.Fatalf("resolve(%q) = %s %q, %v; want ErrRefNotFound", ref, hash, name, err)
			}
			return
		}
		if err != nil || hash.String() != wantHash || name != wantName {
			t.Fatalf("resolve(%q) = %s %q, %v; want %s %q", ref, hash, name, err, wantHash, wantName)
		}
	})
}
