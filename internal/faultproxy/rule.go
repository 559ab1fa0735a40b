package faultproxy

import (
	"fmt"
	"strings"
	"time"
)

// Rule selects requests. Every field that is set must match; the zero Rule
// matches every request.
type Rule struct {
	// Method is the HTTP method; "" matches any. The Nomad API client
	// writes with PUT (register, plan, parse), Consul's KV with PUT.
	Method string
	// Path is the exact URL path; "" matches any. PUT /v1/jobs (register)
	// needs it: a prefix would also match /v1/jobs/parse.
	Path string
	// PathPrefix is a prefix of the URL path; "" matches any.
	PathPrefix string
	// Query is a substring of the raw query; "" matches any. "index="
	// selects blocking queries.
	Query string
}

// Matches reports whether a request with this method, path and raw query
// is selected by r.
func (r Rule) Matches(method, path, rawQuery string) bool {
	return (r.Method == "" || strings.EqualFold(r.Method, method)) &&
		(r.Path == "" || r.Path == path) &&
		strings.HasPrefix(path, r.PathPrefix) &&
		strings.Contains(rawQuery, r.Query)
}

func (r Rule) String() string {
	s := r.Method
	if s == "" {
		s = "*"
	}
	switch {
	case r.Path != "":
		s += " " + r.Path
	case r.PathPrefix != "":
		s += " " + r.PathPrefix + "*"
	default:
		s += " *"
	}
	if r.Query != "" {
		s += " ?*" + r.Query + "*"
	}
	return s
}

type modeKind int

const (
	forward modeKind = iota
	hang
	refuse
	slow
	status
)

// Mode is what the proxy does with a request a rule selects.
type Mode struct {
	kind  modeKind
	delay time.Duration
	code  int
	body  string
}

// Forward passes the request to the target: what the proxy does with any
// request no rule selects.
func Forward() Mode { return Mode{kind: forward} }

// Hang reads the request and never answers it: the client sees a call that
// does not return, not an error. The request is held until its rule is
// cleared or changed (it then gets the new mode, so Clear sends it on to
// the target, as a server that comes back would answer), until the client
// gives up (it then never reaches the target), or until the proxy closes.
// A request forwarded before the rule was set (a blocking query waiting on
// the target) has its answer held the same way, unless the answer had
// started already.
func Hang() Mode { return Mode{kind: hang} }

// Refuse closes the connection without a response; a request forwarded
// before the rule was set loses its answer the same way.
func Refuse() Mode { return Mode{kind: refuse} }

// Slow forwards the request after d.
func Slow(d time.Duration) Mode { return Mode{kind: slow, delay: d} }

// Status answers with code and body (text/plain) without asking the target.
func Status(code int, body string) Mode { return Mode{kind: status, code: code, body: body} }

func (m Mode) String() string {
	switch m.kind {
	case hang:
		return "hang"
	case refuse:
		return "refuse"
	case slow:
		return "slow " + m.delay.String()
	case status:
		return fmt.Sprintf("status %d", m.code)
	}
	return "forward"
}
