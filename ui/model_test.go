package ui

import (
	"testing"

	"github.com/drover-dev/drover/api"
)

// TestStatusClass_EveryJobStateHasAColour: a state added to the schema
// is coloured on the page, by its word as the page shows it.
func TestStatusClass_EveryJobStateHasAColour(t *testing.T) {
	for _, s := range api.JobStates() {
		if c := statusClass(s.Word()); c == "st-none" {
			t.Errorf("job state %s has no colour", s)
		}
	}
	if c := statusClass("baking"); c != "st-busy" {
		t.Errorf("phase baking: %s, want st-busy", c)
	}
}
