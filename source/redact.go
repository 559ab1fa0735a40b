package source

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces every secret in error messages.
const redacted = "REDACTED"

// redactor scrubs credentials out of errors before they leave the package.
// go-git errors can carry them: an HTTP 401 body is quoted verbatim, and
// net/url errors quote the URL they failed on.
type redactor struct {
	secrets []string
}

// newRedactor returns a redactor for the given secrets and their
// URL-escaped spellings; empty secrets are ignored.
func newRedactor(secrets ...string) redactor {
	var r redactor
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		userinfo := strings.TrimPrefix(url.UserPassword("", s).String(), ":")
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), userinfo} {
			if !seen[form] {
				seen[form] = true
				r.secrets = append(r.secrets, form)
			}
		}
	}
	return r
}

// string returns s with every secret replaced.
func (r redactor) string(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// wrap returns err with every secret replaced in its message. The result
// still answers errors.Is for the original chain (so callers can test for
// context.Canceled or transport.ErrAuthenticationRequired) but does not
// unwrap: the original error's text would hold the secret.
func (r redactor) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.string(err.Error()), cause: err}
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error matches target; it hands out no
// error value, so no secret can leak through it.
func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }
