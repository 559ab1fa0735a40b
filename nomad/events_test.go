package nomad

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// Lines shaped like Nomad 1.11's /v1/event/stream, trimmed of fields
// drover does not read but keeping some of each kind (nested objects,
// arrays, nulls) the decoder must skip.
const (
	heartbeat = `{}`

	allocLine = `{"Index":42,"Events":[{"Topic":"Allocation","Type":"AllocationUpdated","Key":"8b7e3c1a-0000-4000-8000-000000000001","Namespace":"default","FilterKeys":["web","eval-1","deploy-1"],"Index":42,"Payload":{"Allocation":{"ID":"8b7e3c1a-0000-4000-8000-000000000001","Namespace":"default","EvalID":"eval-1","Name":"web.web[0]","NodeID":"node-1","NodeName":"dev","JobID":"web","Job":null,"TaskGroup":"web","Resources":{"CPU":1,"MemoryMB":10,"DiskMB":10,"Networks":null},"AllocatedResources":{"Tasks":{"web":{"Cpu":{"CpuShares":1},"Memory":{"MemoryMB":10}}},"Shared":{"DiskMB":10}},"Metrics":{"NodesEvaluated":1,"ScoreMetaData":[{"NodeID":"node-1","Scores":{"binpack":0.1},"NormScore":0.1}],"AllocationTime":52000},"DesiredStatus":"run","DesiredDescription":"","DesiredTransition":{"Migrate":null},"ClientStatus":"running","ClientDescription":"Tasks are running","TaskStates":{"web":{"State":"running","Failed":false,"Restarts":1,"LastRestart":"2026-11-27T20:00:03.5Z","StartedAt":"2026-11-27T20:00:04Z","FinishedAt":"0001-01-01T00:00:00Z","Events":[{"Type":"Received","Time":1795809600000000000,"Message":"","DisplayMessage":"Task received by client","Details":{},"FailsTask":false},{"Type":"Started","Time":1795809604000000000,"Message":"","DisplayMessage":"Task started by client","Details":{"pid":"1"}}],"TaskHandle":null}},"DeploymentID":"deploy-1","DeploymentStatus":{"Healthy":true,"Timestamp":"2026-11-27T20:00:14Z","Canary":false,"ModifyIndex":42},"RescheduleTracker":null,"NetworkStatus":null,"CreateIndex":40,"ModifyIndex":42,"AllocModifyIndex":40,"CreateTime":1795809600000000000,"ModifyTime":1795809614000000000}}}]}`

	deploymentLine = `{"Index":43,"Events":[{"Topic":"Deployment","Type":"DeploymentStatusUpdate","Key":"deploy-1","Namespace":"default","FilterKeys":["web"],"Index":43,"Payload":{"Deployment":{"ID":"deploy-1","Namespace":"default","JobID":"web","JobVersion":3,"JobModifyIndex":39,"JobSpecModifyIndex":39,"JobCreateIndex":10,"IsMultiregion":false,"TaskGroups":{"web":{"AutoRevert":false,"AutoPromote":false,"ProgressDeadline":600000000000,"RequireProgressBy":"2026-11-27T20:10:14Z","Promoted":false,"PlacedCanaries":null,"DesiredCanaries":0,"DesiredTotal":1,"PlacedAllocs":1,"HealthyAllocs":1,"UnhealthyAllocs":0}},"Status":"successful","StatusDescription":"Deployment completed successfully","CreateIndex":40,"ModifyIndex":43}}}]}`

	jobLine = `{"Index":44,"Events":[{"Topic":"Job","Type":"JobRegistered","Key":"web","Namespace":"default","FilterKeys":null,"Index":44,"Payload":{"Job":{"Region":"global","Namespace":"default","ID":"web","Name":"web","Type":"service","Priority":50,"Datacenters":["*"],"TaskGroups":[{"Name":"web","Count":1,"Tasks":[{"Name":"web","Driver":"mock_driver","Config":{"run_for":"1h"},"Env":{"SECRET_LOOKING":"x"}}]}],"Multiregion":null,"Periodic":null,"ParameterizedJob":null,"Stop":false,"Status":"running","StatusDescription":"","Stable":true,"Version":3,"Meta":{"drover.managed":"true","drover.instance":"default"},"CreateIndex":10,"ModifyIndex":44,"JobModifyIndex":39}}},{"Topic":"Job","Type":"JobDeregistered","Key":"old","Namespace":"ops","Index":44,"Payload":{"Job":{"ID":"old","Namespace":"ops","Stop":true,"Status":"dead","JobModifyIndex":41}}}]}`
)

// read runs readEvents over body and returns every batch it sent.
func read(t *testing.T, body string) []*EventBatch {
	t.Helper()
	ch := make(chan *EventBatch, 16)
	readEvents(t.Context(), strings.NewReader(body), ch)
	close(ch)
	var out []*EventBatch
	for b := range ch {
		out = append(out, b)
	}
	return out
}

func TestReadEvents_DecodesEachTopicIntoWhatTheWatchesRead(t *testing.T) {
	batches := read(t, strings.Join([]string{heartbeat, allocLine, heartbeat, deploymentLine, jobLine}, "\n")+"\n")
	// The heartbeats are dropped; the body's end is the stream's end.
	if len(batches) != 4 {
		t.Fatalf("got %d batches, want 3 and the end", len(batches))
	}
	for i, want := range []uint64{42, 43, 44} {
		if b := batches[i]; b.Err != nil || b.Index != want {
			t.Fatalf("batch %d: index %d, err %v; want index %d", i, b.Index, b.Err, want)
		}
	}

	a := batches[0].Events[0]
	if a.Topic != api.TopicAllocation || a.Type != "AllocationUpdated" || a.Index != 42 || a.Allocation == nil || a.Deployment != nil || a.Job != nil {
		t.Fatalf("allocation event = %+v", a)
	}
	al := a.Allocation
	if al.ID != "8b7e3c1a-0000-4000-8000-000000000001" || al.JobID != "web" || al.Namespace != "default" || al.TaskGroup != "web" ||
		al.DesiredStatus != "run" || al.ClientStatus != "running" || al.ClientDescription != "Tasks are running" ||
		al.DeploymentID != "deploy-1" || al.CreateIndex != 40 || al.ModifyIndex != 42 || al.JobVersion != 0 {
		t.Errorf("allocation = %+v", al.AllocationListStub)
	}
	if al.DeploymentStatus == nil || al.DeploymentStatus.Healthy == nil || !*al.DeploymentStatus.Healthy {
		t.Errorf("deployment status = %+v, want healthy", al.DeploymentStatus)
	}
	ts := al.TaskStates["web"]
	if ts == nil || ts.State != "running" || ts.Failed || ts.Restarts != 1 || len(ts.Events) != 2 {
		t.Fatalf("task state = %+v", ts)
	}
	if e := ts.Events[1]; e.Type != "Started" || e.DisplayMessage != "Task started by client" || e.Time != 1795809604000000000 {
		t.Errorf("task event = %+v", e)
	}

	d := batches[1].Events[0].Deployment
	if d == nil || d.ID != "deploy-1" || d.JobID != "web" || d.JobVersion != 3 || d.Status != "successful" ||
		d.StatusDescription != "Deployment completed successfully" || d.ModifyIndex != 43 || d.TaskGroups["web"].HealthyAllocs != 1 {
		t.Errorf("deployment = %+v", d)
	}

	jobEvents := batches[2].Events
	if len(jobEvents) != 2 {
		t.Fatalf("got %d job events, want 2", len(jobEvents))
	}
	j := jobEvents[0].Job
	if j == nil || j.ID != "web" || j.Namespace != "default" || j.Status != "running" || j.Stop || j.JobModifyIndex != 39 ||
		j.Meta["drover.managed"] != "true" || j.Meta["drover.instance"] != "default" {
		t.Errorf("job = %+v", j)
	}
	if j := jobEvents[1].Job; j == nil || j.ID != "old" || j.Namespace != "ops" || !j.Stop || j.Status != "dead" || jobEvents[1].Type != "JobDeregistered" {
		t.Errorf("stopped job = %+v", j)
	}

	if end := batches[3]; end.Err == nil || !strings.Contains(end.Err.Error(), "stream closed") {
		t.Errorf("end of body: err %v, want the stream closed", end.Err)
	}
}

func TestReadEvents_FailsTheStreamOnABrokenLine(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"an error line", allocLine + "\nrpc error: EOF\n" + deploymentLine + "\n", "invalid character"},
		{"a truncated line", allocLine + "\n" + deploymentLine[:len(deploymentLine)/2], "unexpected EOF"},
		{"nothing but heartbeats", heartbeat + "\n" + heartbeat + "\n", "stream closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			batches := read(t, tt.body)
			last := batches[len(batches)-1]
			if last.Err == nil || !strings.Contains(last.Err.Error(), tt.want) {
				t.Fatalf("last batch: err %v, want one saying %q", last.Err, tt.want)
			}
			// What came before the break is delivered; nothing after it.
			for _, b := range batches[:len(batches)-1] {
				if b.Err != nil || b.Index != 42 {
					t.Errorf("batch before the break: index %d, err %v; want 42 and no error", b.Index, b.Err)
				}
			}
		})
	}
}

func TestReadEvents_AnOddPayloadEmptiesItsEventOnly(t *testing.T) {
	odd := `{"Index":45,"Events":[{"Topic":"Allocation","Index":45,"Payload":{"Allocation":{"ID":"x","ModifyIndex":"not a number"}}},` +
		`{"Topic":"Deployment","Index":45,"Payload":{"Deployment":{"ID":"deploy-2","JobID":"web","Status":"running","ModifyIndex":45}}}]}`
	batches := read(t, odd+"\n"+deploymentLine+"\n")
	if len(batches) != 3 || batches[0].Err != nil || batches[1].Err != nil {
		t.Fatalf("batches = %+v; want two and the end", batches)
	}
	if e := batches[0].Events[0]; e.Allocation != nil {
		t.Errorf("odd allocation decoded as %+v, want none", e.Allocation)
	}
	if d := batches[0].Events[1].Deployment; d == nil || d.ID != "deploy-2" {
		t.Errorf("the odd event's neighbour = %+v, want deploy-2", d)
	}
}

func TestEvents_SubscribesThroughTheClientsTransport(t *testing.T) {
	reqs := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(heartbeat + "\n" + allocLine + "\n"))
	}))
	defer srv.Close()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.SecretID, cfg.Region = srv.URL, "s3cret", "west"
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Wrap(c).Events(t.Context(), []string{"web", "api"}, 41)
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b.Err != nil || b.Index != 42 || b.Events[0].Allocation == nil {
		t.Fatalf("first batch = %+v", b)
	}
	if end := <-ch; end == nil || end.Err == nil {
		t.Fatalf("after the body ended: %+v, want a batch with Err", end)
	}
	if _, open := <-ch; open {
		t.Fatal("the channel stayed open after the stream failed")
	}
	got := <-reqs
	q := got.URL.Query()
	topics := q["topic"]
	slices.Sort(topics)
	if want := []string{"Allocation:api", "Allocation:web", "Deployment:api", "Deployment:web"}; !slices.Equal(topics, want) {
		t.Errorf("topics = %v, want %v", topics, want)
	}
	if got.URL.Path != "/v1/event/stream" || q.Get("index") != "41" || q.Get("namespace") != "*" || q.Get("region") != "west" || got.Header.Get("X-Nomad-Token") != "s3cret" {
		t.Errorf("request = %s (token header set: %v)", got.URL, got.Header.Get("X-Nomad-Token") != "")
	}
}

func TestJobEvents_FailsWhenNomadRefuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Permission denied", http.StatusForbidden)
	}))
	defer srv.Close()
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := Wrap(c).JobEvents(ctx, 7); err == nil || !IsForbidden(err) {
		t.Fatalf("err = %v, want Nomad's 403", err)
	}
}
