package cycle

import (
	"errors"
	"testing"

	"github.com/drover-dev/drover/failure"
	"github.com/drover-dev/drover/reconcile"
)

func TestStallIn_AJobErrorThatStallsStallsTheCycle(t *testing.T) {
	refused := &failure.Stall{What: `Nomad token lacks submit-job in namespace "prod"`, Err: errors.New("403")}
	for _, tc := range []struct {
		name   string
		report *reconcile.Report
		want   error
	}{
		{"no report", nil, nil},
		{"job errors that do not stall", &reconcile.Report{Jobs: []*reconcile.JobResult{{Err: errors.New("bad HCL")}, {}}}, nil},
		{"a job refused", &reconcile.Report{Jobs: []*reconcile.JobResult{{Err: errors.New("bad HCL")}, {Err: refused}}}, refused},
		{"an orphan refused", &reconcile.Report{Orphans: []*reconcile.Orphan{{Err: refused}}}, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stallIn(tc.report); got != tc.want {
				t.Errorf("stallIn = %v, want %v", got, tc.want)
			}
		})
	}
}
