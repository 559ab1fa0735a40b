package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/drover-dev/drover/api"
)

// readStatus reads the agent's /v1/status into the schema the server
// encodes it from; the error says why there is none.
func readStatus(a *agentProc) (api.Status, error) {
	var st api.Status
	code, body := agentGet(a, "/v1/status")
	if code != http.StatusOK {
		return st, fmt.Errorf("GET /v1/status: %d %q", code, body)
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return st, fmt.Errorf("GET /v1/status: %v: %q", err, body)
	}
	return st, nil
}

// status is the agent's /v1/status; the test fails without one.
func (a *agentProc) status() api.Status {
	a.t.Helper()
	st, err := readStatus(a)
	if err != nil {
		a.t.Fatal(err)
	}
	return st
}

// reportedJob is job's entry in the status's last report, nil when the
// report has none.
func reportedJob(st api.Status, job string) *api.Job {
	if st.Report == nil {
		return nil
	}
	for i := range st.Report.Jobs {
		if st.Report.Jobs[i].Job == job {
			return &st.Report.Jobs[i]
		}
	}
	return nil
}

// rolloutOf is job's rollouts in the status, the zero value when it has
// none.
func rolloutOf(st api.Status, job string) api.JobRollout {
	for _, r := range st.Rollouts {
		if r.Job == job {
			return r
		}
	}
	return api.JobRollout{}
}
