package source

import (
	"fmt"
	"testing"

	"github.com/drover-dev/drover/failure"
)

// TestErrors_StallNamingTheFix: what a source cannot get past by retrying
// stalls the cycle, with the flag to check, however it was wrapped.
func TestErrors_StallNamingTheFix(t *testing.T) {
	for err, want := range map[error]string{
		ErrRefNotFound: "git ref not found (check --ref, or push it)",
		ErrAuthRefused: "git credentials refused (check --git-token / --git-username)",
		ErrHostKey:     "SSH host key not trusted (check --ssh-known-hosts)",
	} {
		wrapped := fmt.Errorf("fetch from file:///repo: %w", err)
		if st, ok := failure.StallOf(wrapped); !ok || st.Reason() != want {
			t.Errorf("%v: stall %+v, %v; want %q", err, st, ok, want)
		}
	}
}
