// Package preflight checks, without changing anything a user owns, that
// drover can work against the cluster and the repository it is given:
// Nomad and Consul reachable and their tokens allowing each call drover
// makes, the git remote answering, and the HTTP surface guarded. Each
// check that fails says the exact fix. `drover check` prints the checks;
// the agent runs them at start.
package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// Check is the outcome of one check.
type Check struct {
	// Name says what was checked, e.g. `nomad: submit-job in namespace "prod"`.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail is what was found: a version, an error, why a check could
	// not be made.
	Detail string `json:"detail,omitempty"`
	// Fix is what to do when the check failed, e.g. the policy line to add.
	Fix string `json:"fix,omitempty"`

	// Capability and Namespace name a Nomad capability check's subject,
	// for the agent to stall the jobs of that namespace.
	Capability string `json:"capability,omitempty"`
	Namespace  string `json:"namespace,omitempty"`

	// Fatal marks a failure no retry can fix and nothing else works
	// without, such as a CA that did not sign the server's certificate:
	// the agent refuses to start on one.
	Fatal bool `json:"fatal,omitempty"`
}

// Report is every check, in the order made.
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

func (r *Report) add(c ...Check) {
	r.Checks = append(r.Checks, c...)
}

// Failed is the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Checker makes the checks. Each part is optional: nil skips its checks
// (a command that uses no git, a test of one part).
type Checker struct {
	Nomad  *NomadCheck
	Consul *ConsulCheck
	Git    []*GitCheck
	HTTP   *HTTPCheck
}

// Run makes every check and reports them all: one failure does not hide
// the others, so a user fixes everything in one go.
func (c Checker) Run(ctx context.Context) *Report {
	r := &Report{}
	if c.Nomad != nil {
		r.add(c.Nomad.run(ctx)...)
	}
	if c.Consul != nil {
		r.add(c.Consul.run(ctx)...)
	}
	for _, g := range c.Git {
		r.add(g.run(ctx)...)
	}
	if c.HTTP != nil {
		r.add(c.HTTP.run()...)
	}
	r.OK = len(r.Failed()) == 0
	return r
}

// Fatal is the first failed check that is Fatal, if any.
func (r *Report) Fatal() (Check, bool) {
	for _, c := range r.Checks {
		if !c.OK && c.Fatal {
			return c, true
		}
	}
	return Check{}, false
}

// WriteText prints one line per check, ✓ or ✗, and under each failure
// its detail and fix.
func WriteText(w io.Writer, r *Report) {
	for _, c := range r.Checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		line := mark + " " + c.Name
		if c.OK && c.Detail != "" {
			line += " (" + c.Detail + ")"
		}
		fmt.Fprintln(w, line)
		if !c.OK {
			if c.Detail != "" {
				fmt.Fprintf(w, "    %s\n", c.Detail)
			}
			if c.Fix != "" {
				fmt.Fprintf(w, "    fix: %s\n", c.Fix)
			}
		}
	}
	if r.OK {
		fmt.Fprintln(w, "all checks passed")
	} else {
		fmt.Fprintf(w, "%d of %d checks failed\n", len(r.Failed()), len(r.Checks))
	}
}

// WriteJSON prints the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
