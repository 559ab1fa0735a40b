package failure

import (
	"errors"
	"fmt"
	"testing"
)

// TestStall_MarksWithoutChangingTheMessage: a mark changes what the loop
// does with an error, not what the error says; it is found however deep
// it was wrapped.
func TestStall_MarksWithoutChangingTheMessage(t *testing.T) {
	cause := errors.New("403 Forbidden")
	err := fmt.Errorf("plan web: %w", &Stall{What: "permission denied by Nomad", Fix: "NOMAD_TOKEN lacks submit-job in namespace web", Err: cause})
	if err.Error() != "plan web: 403 Forbidden" || !errors.Is(err, cause) {
		t.Errorf("Error() = %q; want the cause's words, and the cause in the chain", err)
	}
	st, ok := StallOf(err)
	if !ok || st.Reason() != "permission denied by Nomad (NOMAD_TOKEN lacks submit-job in namespace web)" {
		t.Errorf("StallOf = %+v, %v", st, ok)
	}
	if st := (&Stall{What: "var file too large", Err: cause}); st.Reason() != "var file too large" {
		t.Errorf("Reason without a fix = %q", st.Reason())
	}
	if _, ok := StallOf(cause); ok {
		t.Error("an unmarked error stalls")
	}
}

func TestTransient_MarksTheCyclesErrors(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("load: %w", &Transient{Err: fmt.Errorf("parse a.nomad: %w", cause)})
	if !IsTransient(err) || !errors.Is(err, cause) || err.Error() != "load: parse a.nomad: connection refused" {
		t.Errorf("%q: transient %v", err, IsTransient(err))
	}
	if IsTransient(cause) {
		t.Error("an unmarked error is marked transient")
	}
}
