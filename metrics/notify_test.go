package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNotifications_ZeroedAtStartAndFixedLabels(t *testing.T) {
	m := New("test")
	n := NewNotifications(m)
	for _, r := range []string{NotifySent, NotifyFailed, NotifyDropped} {
		if got := testutil.ToFloat64(n.total.WithLabelValues(r)); got != 0 {
			t.Errorf("%s = %v at start, want 0", r, got)
		}
	}
	n.Delivered(NotifySent)
	n.Delivered("bogus")
	if got := testutil.ToFloat64(n.total.WithLabelValues(NotifySent)); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if got := testutil.ToFloat64(n.total.WithLabelValues(NotifyFailed)); got != 1 {
		t.Errorf("failed = %v, want 1 (an unknown result counts as failed)", got)
	}
	if c := testutil.CollectAndCount(n.total); c != 3 {
		t.Errorf("%d series, want 3", c)
	}
	var nilN *Notifications
	nilN.Delivered(NotifySent)
	if NewNotifications(nil) != nil {
		t.Error("NewNotifications(nil) should be nil")
	}
}
