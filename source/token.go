package source

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// maxRememberedTokens bounds how many values of a rotating token the
// redactor keeps scrubbing: enough that a token rotated several times
// between two errors is still caught, without the list (and the cost of
// every redaction) growing for the life of a long-running agent.
const maxRememberedTokens = 16

// rotatingToken is an HTTPS token read anew for every request
// (Auth.TokenFrom), which remembers each value it has handed out so that
// the redactor scrubs the previous tokens as well as the current one: a
// server's answer to an old request can quote the old token after the
// file moved on.
type rotatingToken struct {
	get func() (string, error)

	mu   sync.Mutex
	seen []string // distinct values read, oldest first
}

// newRotatingToken returns nil when get is nil: no rotating token.
func newRotatingToken(get func() (string, error)) *rotatingToken {
	if get == nil {
		return nil
	}
	return &rotatingToken{get: get}
}

// current reads the token and remembers its value.
func (t *rotatingToken) current() (string, error) {
	v, err := t.get()
	if err != nil || v == "" {
		return v, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := slices.Index(t.seen, v); i >= 0 {
		t.seen = slices.Delete(t.seen, i, i+1)
	}
	t.seen = append(t.seen, v)
	if len(t.seen) > maxRememberedTokens {
		t.seen = slices.Delete(t.seen, 0, len(t.seen)-maxRememberedTokens)
	}
	return v, nil
}

// values are the token's current value and the previous ones it
// remembers, for the redactor. Nil-safe: no rotating token, no values.
func (t *rotatingToken) values() []string {
	if t == nil {
		return nil
	}
	// Read now, so a value written to the file since the last request is
	// scrubbed too; a read error leaves the values already seen.
	_, _ = t.current()
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.seen)
}

// rotatingBasicAuth is go-git HTTP basic auth whose password is the
// token's value at each request: go-git calls SetAuth on every request
// it sends, so a rotated token takes effect at the next one.
type rotatingBasicAuth struct {
	username string
	token    *rotatingToken
}

// SetAuth implements go-git's http.AuthMethod. It cannot return an error:
// a token that cannot be read (only possible when it never was, which
// Open refuses) sends the request without credentials, and the server's
// 401 is reported as refused credentials.
func (a *rotatingBasicAuth) SetAuth(r *http.Request) {
	v, err := a.token.current()
	if err != nil {
		return
	}
	r.SetBasicAuth(a.username, v)
}

// Name implements transport.AuthMethod.
func (a *rotatingBasicAuth) Name() string { return "http-basic-auth" }

// String implements transport.AuthMethod without the token, as go-git's
// BasicAuth does.
func (a *rotatingBasicAuth) String() string {
	return fmt.Sprintf("%s - %s:*******", a.Name(), a.username)
}
