package api

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a rollout, described the way a person
// would after running `nomad alloc status` and looking at Consul: what the
// health verdict holds and what the rollout.failed event on /v1/events
// carries.
type Problem struct {
	// Kind is "deployment", "allocation", "task" or "check".
	Kind  string `json:"kind"`
	Alloc string `json:"alloc,omitempty"`
	Group string `json:"group,omitempty"`
	Task  string `json:"task,omitempty"`
	Check string `json:"check,omitempty"`
	// CheckID is Consul's ID of the check, for the health watch to read
	// its live output; it is not shown.
	CheckID string `json:"-"`
	Status  string `json:"status,omitempty"`
	// Output is the check's output or the deployment's description.
	Output string `json:"output,omitempty"`
	// Events are the newest task events, oldest first.
	Events []string `json:"events,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Kind)
	if p.Check != "" {
		fmt.Fprintf(&b, " %q", p.Check)
	}
	if p.Alloc != "" {
		// Nomad shows allocation IDs by their first 8 characters.
		fmt.Fprintf(&b, " alloc %s", p.Alloc[:min(len(p.Alloc), 8)])
	}
	if p.Task != "" {
		fmt.Fprintf(&b, " task %s", p.Task)
	}
	if p.Status != "" {
		fmt.Fprintf(&b, " %s", p.Status)
	}
	if p.Output != "" {
		fmt.Fprintf(&b, ": %s", p.Output)
	}
	if len(p.Events) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(p.Events, "; "))
	}
	return b.String()
}
