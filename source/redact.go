package source

import (
	"encoding/base64"
	"errors"
	"github.com/drover-dev/drover/failure"
	"net/url"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// redacted replaces every secret in error messages.
const redacted = "REDACTED"

// redactor scrubs credentials out of errors before they leave the package.
// go-git errors can carry them: an HTTP 401, 403 or 404 body is quoted
// verbatim (and a server or proxy may echo the Authorization header in it,
// base64-encoded), and net/url errors quote the URL they failed on.
//
// It asks for the secrets each time it scrubs rather than holding a fixed
// list, so a token rotated in its file (Auth.TokenFrom) is scrubbed from
// the first error after the rotation, and so are the values before it.
type redactor struct {
	// users are every user a basic-auth header could name.
	users []string
	// secrets returns the secrets to scrub now; nil is none.
	secrets func() []string
}

// minBase64Core is the shortest run of base64 characters redacted as a
// secret found at an unknown offset inside a longer encoded text: shorter
// runs would match ordinary words.
const minBase64Core = 8

// newRedactor returns a redactor for fixed secrets.
func newRedactor(users []string, secrets ...string) redactor {
	return redactor{users: users, secrets: func() []string { return secrets }}
}

// forms are every spelling of every current secret, longest first, so
// that a form containing another is replaced whole: each secret verbatim,
// URL-escaped, and base64-encoded (standard and URL alphabets, padded or
// not) both alone and as the "user:secret" of HTTP basic auth for each of
// r.users, which is what go-git sends in the Authorization header. Empty
// secrets are ignored.
func (r redactor) forms() []string {
	if r.secrets == nil {
		return nil
	}
	seen := map[string]bool{}
	var forms []string
	add := func(form string) {
		if form != "" && !seen[form] {
			seen[form] = true
			forms = append(forms, form)
		}
	}
	for _, s := range r.secrets() {
		if s == "" {
			continue
		}
		userinfo := strings.TrimPrefix(url.UserPassword("", s).String(), ":")
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), userinfo} {
			add(form)
		}
		plain := []string{s, ":" + s}
		for _, u := range r.users {
			plain = append(plain, u+":"+s)
		}
		for _, p := range plain {
			for _, form := range base64Forms(p) {
				add(form)
			}
		}
		for _, core := range base64Cores(s) {
			add(core)
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return forms
}

var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// base64Forms is s encoded on its own, in each alphabet, padded or not.
func base64Forms(s string) []string {
	out := make([]string, 0, len(base64Encodings))
	for _, enc := range base64Encodings {
		out = append(out, enc.EncodeToString([]byte(s)))
	}
	return out
}

// base64Cores are the runs of base64 characters that encode s alone
// wherever it sits in a longer encoded text, whatever the bytes around it:
// one run per alignment (s starting at byte 0, 1 or 2 of a 3-byte group),
// in each alphabet. The characters at either end that mix bits of s with
// bits of its neighbours are left out. Runs shorter than minBase64Core
// are dropped.
func base64Cores(s string) []string {
	var out []string
	for shift := range 3 {
		buf := append(make([]byte, shift), s...)
		// Characters before first mix bits of the unknown leading bytes;
		// the one at last mixes bits of the unknown trailing bytes.
		first := (shift*8 + 5) / 6
		last := len(buf) * 8 / 6
		if last-first < minBase64Core {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(buf)[first:last])
		}
	}
	return out
}

// string returns s with every secret replaced.
func (r redactor) string(s string) string {
	for _, form := range r.forms() {
		s = strings.ReplaceAll(s, form, redacted)
	}
	return s
}

// wrap returns err with every secret replaced in its message, and without
// any HTTP response body go-git quoted into it: a body is the server's text,
// which may echo what drover sent, and says nothing the status does not.
// The result still answers errors.Is for the original chain (so callers can
// test for context.Canceled or transport.ErrAuthenticationRequired) but does
// not unwrap: the original error's text would hold the secret.
func (r redactor) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.string(withoutBodies(err)), cause: err}
}

// bodyErrors are the errors go-git's HTTP transport builds as
// fmt.Errorf("%w: %s", sentinel, body) for a 401, 403 or 404 answer.
var bodyErrors = []error{
	transport.ErrAuthenticationRequired,
	transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound,
}

// withoutBodies returns err's message with the response body cut from each
// "<sentinel>: <body>" error in its chain.
func withoutBodies(err error) string {
	msg := err.Error()
	for _, e := range chain(err) {
		for _, sentinel := range bodyErrors {
			text := e.Error()
			if e == sentinel || !strings.HasPrefix(text, sentinel.Error()+":") || !wrapsDirectly(e, sentinel) {
				continue
			}
			msg = strings.ReplaceAll(msg, text, sentinel.Error())
		}
	}
	return msg
}

// chain lists err and every error it wraps, depth first.
func chain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	return out
}

// wrapsDirectly reports whether e's next link is target itself.
func wrapsDirectly(e, target error) bool {
	switch u := e.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap() == target
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			if inner == target {
				return true
			}
		}
	}
	return false
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error matches target; it hands out no
// error value, so no secret can leak through it.
func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }

// As hands out the failure.Stall the original error carries, so the cycle
// can tell it stalls, and nothing else: a stall is one of this package's
// sentinels (ErrRefNotFound…), which hold drover's words only.
func (e *redactedError) As(target any) bool {
	p, ok := target.(**failure.Stall)
	if !ok {
		return false
	}
	st, found := failure.StallOf(e.cause)
	if found {
		*p = st
	}
	return found
}
