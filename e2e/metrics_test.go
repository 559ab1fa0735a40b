package e2e

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

// metric is the value of series (name and labels exactly as exposed) in a
// scrape; -1 when absent.
func metric(scrape, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			if v, err := strconv.ParseFloat(rest, 64); err == nil {
				return v
			}
		}
	}
	return -1
}

// nomadRequests sums drover_nomad_requests_total over every method for one
// endpoint and status class: which HTTP verb the API client uses for a
// write (PUT or POST) is its business.
func nomadRequests(scrape, endpoint, code string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "drover_nomad_requests_total{") ||
			!strings.Contains(line, `endpoint="`+endpoint+`"`) || !strings.Contains(line, `code="`+code+`"`) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// TestMetrics_ScrapedAroundASync: a sync that registers a job moves the
// cycle histogram, the Nomad request counter for plans, the applies and
// the jobs-by-state gauge; the next one sees the job in sync.
func TestMetrics_ScrapedAroundASync(t *testing.T) {
	r := newRepo(t)
	r.commit("empty", map[string]string{"README.md": "jobs live here"})
	a := startAgent(t, append(syncArgs(r, "mx"), "--interval", "1h")...)
	a.waitIdleAfter("start", 0)

	scrape := func() string {
		t.Helper()
		code, body := get(t, "http://"+a.addr+"/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics: %d", code)
		}
		return body
	}
	const (
		cyclesOK = `drover_sync_duration_seconds_count{result="ok"}`
		applied  = `drover_applies_total{result="ok"}`
		fetches  = `drover_git_fetch_duration_seconds_count{result="ok"}`
		create   = `drover_jobs{state="create"}`
		inSync   = `drover_jobs{state="in_sync"}`
		lastOK   = `drover_last_successful_sync_timestamp_seconds`
	)
	before := scrape()
	if v := metric(before, cyclesOK); v < 1 {
		t.Fatalf("%s = %v after the first cycle, want ≥ 1", cyclesOK, v)
	}
	if v := nomadRequests(before, "/v1/job/:id/plan", "2xx"); v != 0 {
		t.Errorf("%v plan requests before any job existed", v)
	}
	if v := nomadRequests(before, "/v1/jobs", "2xx"); v < 1 {
		t.Errorf("%v job list requests after a cycle, want ≥ 1", v)
	}
	if !strings.Contains(before, `drover_build_info{goversion="go`) || !strings.Contains(before, "\ngo_goroutines ") {
		t.Error("build info or Go collector missing")
	}

	r.commit("add job", map[string]string{"mx.nomad.hcl": helloJob("mx", "1.0.0")})
	a.syncNow("")
	nomadJob(t, "mx") // registered
	after := scrape()
	if got, want := metric(after, cyclesOK), metric(before, cyclesOK)+1; got != want {
		t.Errorf("%s = %v, want %v", cyclesOK, got, want)
	}
	if got, want := metric(after, fetches), metric(before, fetches)+1; got != want {
		t.Errorf("%s = %v, want %v", fetches, got, want)
	}
	if v := nomadRequests(after, "/v1/job/:id/plan", "2xx"); v != 0 {
		// The agent registers a job the cluster lacks without planning it.
		t.Errorf("%v plan requests for a new job, want 0", v)
	}
	if v, was := nomadRequests(after, "/v1/jobs", "2xx"), nomadRequests(before, "/v1/jobs", "2xx"); v <= was {
		t.Errorf("%v job list and register requests after the register, want more than the %v before", v, was)
	}
	if v := nomadRequests(after, "/v1/jobs/parse", "2xx"); v < 1 {
		t.Errorf("%v parse requests, want ≥ 1", v)
	}
	if got, want := metric(after, applied), metric(before, applied)+1; got != want {
		t.Errorf("%s = %v, want %v", applied, got, want)
	}
	if v := metric(after, create); v != 1 {
		t.Errorf("%s = %v, want 1 (the new job)", create, v)
	}
	if metric(after, lastOK) < metric(before, lastOK) || metric(before, lastOK) <= 0 {
		t.Errorf("last success went from %v to %v", metric(before, lastOK), metric(after, lastOK))
	}
	if strings.Contains(after, `endpoint="/v1/job/mx`) {
		t.Error("a job ID leaked into the endpoint label")
	}

	a.syncNow("")
	again := scrape()
	if metric(again, inSync) != 1 || metric(again, create) != 0 {
		t.Errorf("after a second cycle: in_sync %v create %v, want 1 and 0", metric(again, inSync), metric(again, create))
	}
	if v := nomadRequests(again, "/v1/job/:id/plan", "2xx"); v < 1 {
		t.Errorf("%v plan requests after the cycle that follows a register, want ≥ 1 (the new job's one plan)", v)
	}
}
