package source

import (
	"testing"
	"time"
)

// TestSnapshot_CommitInfo: a snapshot says whose commit it is, when, and
// the first line of its message.
func TestSnapshot_CommitInfo(t *testing.T) {
	o := newOrigin(t, "main")
	o.commit(map[string]string{"a.nomad": "job"})
	o.git("commit", "-q", "--allow-empty", "-m", "web: 1.0.1\n\nwhy it changed")
	before := time.Now().Add(-time.Minute)
	s := mustFetch(t, mustOpen(t, Options{URL: o.dir}))
	info := s.CommitInfo()
	if info.Subject != "web: 1.0.1" || info.Author != "test" || info.Time.Before(before) || info.Time.After(time.Now().Add(time.Minute)) {
		t.Errorf("CommitInfo = %+v; want subject %q by test, just now", info, "web: 1.0.1")
	}
}
