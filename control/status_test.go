package control

import (
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
)

// TestStatus_WindowsAndSuspensionsInTheSchema: an open deny window holds
// until it closes, with when it next opens; the suspensions are shown
// field for field, and none as an empty object.
func TestStatus_WindowsAndSuspensionsInTheSchema(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	deny, err := ParseWindow("0 12 * * * 1h")
	if err != nil {
		t.Fatal(err)
	}
	c := New(NewStore(newMemKV(), "s", time.Second), nil, Options{Windows: Windows{Deny: []Window{deny}}, Now: func() time.Time { return now }})
	st := c.Status()
	ends, next := time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)
	want := []api.Window{{Kind: "deny", Spec: "0 12 * * * 1h", Open: true, Ends: &ends, NextOpen: &next}}
	if !reflect.DeepEqual(st.Windows, want) || st.Held == "" || st.Until == nil || !st.Until.Equal(ends) {
		t.Errorf("status = %+v, windows %+v; want held until %s by %+v", st, st.Windows, ends, want)
	}
	if !reflect.DeepEqual(st.Suspensions, api.Suspensions{}) {
		t.Errorf("nothing suspended shows %+v", st.Suspensions)
	}

	s := Suspensions{Instance: &Suspension{By: "ada", At: now, Reason: "incident"}, Jobs: map[string]Suspension{"default/web": {By: "bob", At: now}}}
	wantSus := api.Suspensions{Instance: &api.Suspension{By: "ada", At: now, Reason: "incident"}, Jobs: map[string]api.Suspension{"default/web": {By: "bob", At: now}}}
	if got := s.API(); !reflect.DeepEqual(got, wantSus) {
		t.Errorf("API = %+v, want %+v", got, wantSus)
	}
}
