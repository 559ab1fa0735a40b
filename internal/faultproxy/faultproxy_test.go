package faultproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/testutil"
)

// backend is the target: it echoes every request and counts them; /stream
// sends one line, then a second once release is closed.
type backend struct {
	srv     *httptest.Server
	hits    atomic.Int64
	release chan struct{}
	// polls receives a reply channel for each GET /poll, which answers
	// when that channel is closed, as a blocking query answers a change.
	polls chan chan struct{}
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{release: make(chan struct{}), polls: make(chan chan struct{}, 8)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if r.URL.Path == "/stream" {
			fmt.Fprintln(w, "first")
			http.NewResponseController(w).Flush()
			select {
			case <-b.release:
			case <-r.Context().Done():
				return
			}
			fmt.Fprintln(w, "second")
			return
		}
		if r.URL.Path == "/poll" {
			answer := make(chan struct{})
			b.polls <- answer
			select {
			case <-answer:
			case <-r.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s ?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func newProxy(t *testing.T, b *backend) *Proxy {
	t.Helper()
	p, err := New(b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// result is one finished request.
type result struct {
	code int
	body string
	err  error
}

// do sends one request through the proxy; a zero timeout waits forever.
func do(p *Proxy, method, pathQuery, body string, timeout time.Duration) result {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, p.URL()+pathQuery, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, body: string(b), err: err}
}

// start sends a request in the background; its result arrives on the channel.
func start(p *Proxy, method, pathQuery, body string, timeout time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- do(p, method, pathQuery, body, timeout) }()
	return ch
}

func waitResult(t *testing.T, ch <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10s", what)
	}
	return result{}
}

func waitHanging(t *testing.T, p *Proxy, r Rule, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitHanging(ctx, r, n); err != nil {
		t.Fatal(err)
	}
}

func TestForward_PassesMethodPathQueryAndBody(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	got := do(p, http.MethodPut, "/v1/jobs/parse?region=global", `{"JobHCL":"job"}`, 5*time.Second)
	if got.err != nil || got.code != 200 || got.body != `PUT /v1/jobs/parse ?region=global {"JobHCL":"job"}` {
		t.Fatalf("forwarded request = %+v", got)
	}
}

func TestRule_MatchesMethodExactPathPrefixAndQuery(t *testing.T) {
	for _, tc := range []struct {
		name                string
		rule                Rule
		method, path, query string
		want                bool
	}{
		{"zero rule matches all", Rule{}, "GET", "/v1/jobs", "", true},
		{"method any case", Rule{Method: "put"}, "PUT", "/v1/jobs", "", true},
		{"other method", Rule{Method: "PUT"}, "GET", "/v1/jobs", "", false},
		{"exact path", Rule{Method: "PUT", Path: "/v1/jobs"}, "PUT", "/v1/jobs", "", true},
		{"exact path is not a prefix", Rule{Method: "PUT", Path: "/v1/jobs"}, "PUT", "/v1/jobs/parse", "", false},
		{"prefix", Rule{PathPrefix: "/v1/kv/"}, "PUT", "/v1/kv/drover/x/jobs/default/a", "", true},
		{"prefix mismatch", Rule{PathPrefix: "/v1/kv/"}, "PUT", "/v1/txn", "", false},
		{"query substring", Rule{Query: "index="}, "GET", "/v1/health/state/any", "index=12&wait=60000ms", true},
		{"query absent", Rule{Query: "index="}, "GET", "/v1/health/state/any", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Matches(tc.method, tc.path, tc.query); got != tc.want {
				t.Errorf("%s matches %s %s?%s = %v, want %v", tc.rule, tc.method, tc.path, tc.query, got, tc.want)
			}
		})
	}
}

func TestStatus_AnswersWithoutTheTargetOnlyWhatTheRuleSelects(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Set(Rule{Method: "GET", PathPrefix: "/v1/job/"}, Status(500, "boom"))
	if got := do(p, "GET", "/v1/job/web", "", 5*time.Second); got.code != 500 || got.body != "boom" {
		t.Errorf("selected request = %+v, want 500 boom", got)
	}
	if b.hits.Load() != 0 {
		t.Error("a request answered by the proxy reached the target")
	}
	if got := do(p, "GET", "/v1/jobs", "", 5*time.Second); got.code != 200 {
		t.Errorf("unselected request = %+v, want forwarded", got)
	}
}

func TestSet_LastRuleSetWins(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Set(Rule{PathPrefix: "/v1/"}, Status(503, "down"))
	p.Set(Rule{PathPrefix: "/v1/status/"}, Forward())
	if got := do(p, "GET", "/v1/status/leader", "", 5*time.Second); got.code != 200 {
		t.Errorf("narrower rule set last: %+v, want forwarded", got)
	}
	if got := do(p, "GET", "/v1/jobs", "", 5*time.Second); got.code != 503 {
		t.Errorf("broad rule: %+v, want 503", got)
	}
	p.Set(Rule{PathPrefix: "/v1/"}, Status(502, "again")) // set again: now last
	if got := do(p, "GET", "/v1/status/leader", "", 5*time.Second); got.code != 502 {
		t.Errorf("broad rule set again: %+v, want 502", got)
	}
}

func TestRefuse_ClosesTheConnectionWithoutAResponse(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Set(Rule{Path: "/v1/agent/checks"}, Refuse())
	got := do(p, "GET", "/v1/agent/checks", "", 5*time.Second)
	if got.err == nil {
		t.Fatalf("refused request got a response: %+v", got)
	}
	if b.hits.Load() != 0 {
		t.Error("a refused request reached the target")
	}
}

func TestSlow_DelaysTheResponse(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	const d = 300 * time.Millisecond
	p.Set(Rule{PathPrefix: "/v1/kv/"}, Slow(d))
	begin := time.Now()
	got := do(p, "PUT", "/v1/kv/a", "x", 5*time.Second)
	if took := time.Since(begin); took < d || got.code != 200 {
		t.Errorf("slowed request: %+v after %s, want 200 after ≥ %s", got, took, d)
	}
}

// TestHang_HeldUntilReleasedThenForwarded: a held request answers nothing
// until the rule goes away, then reaches the target as if the server had
// come back; each way of releasing it does that.
func TestHang_HeldUntilReleasedThenForwarded(t *testing.T) {
	register := Rule{Method: "PUT", Path: "/v1/jobs"}
	for _, tc := range []struct {
		name    string
		hang    func(p *Proxy)
		release func(p *Proxy)
	}{
		{"clear", func(p *Proxy) { p.Set(register, Hang()) }, func(p *Proxy) { p.Clear(register) }},
		{"set forward", func(p *Proxy) { p.Set(register, Hang()) }, func(p *Proxy) { p.Set(register, Forward()) }},
		{"reset", func(p *Proxy) { p.Set(register, Hang()) }, func(p *Proxy) { p.Reset() }},
		{"hang all, forward all", func(p *Proxy) { p.HangAll() }, func(p *Proxy) { p.ForwardAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			p := newProxy(t, b)
			tc.hang(p)
			ch := start(p, "PUT", "/v1/jobs", "spec", 0)
			waitHanging(t, p, register, 1)
			if n := b.hits.Load(); n != 0 {
				t.Fatalf("held request reached the target (%d hits)", n)
			}
			select {
			case r := <-ch:
				t.Fatalf("held request answered: %+v", r)
			default:
			}
			tc.release(p)
			got := waitResult(t, ch, "released request")
			if got.err != nil || got.body != "PUT /v1/jobs ? spec" {
				t.Fatalf("released request = %+v, want the target's answer", got)
			}
			if p.Hanging(Rule{}) != 0 {
				t.Error("a released request is still counted as hanging")
			}
		})
	}
}

// TestHang_ClientThatGivesUpSeesATimeoutAndNeverReachesTheTarget: to the
// client a hang is a call that does not return; once it gives up, the held
// request is dropped, so releasing the rule later sends nothing.
func TestHang_ClientThatGivesUpSeesATimeoutAndNeverReachesTheTarget(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	parse := Rule{Method: "PUT", Path: "/v1/jobs/parse"}
	p.Set(parse, Hang())
	got := do(p, "PUT", "/v1/jobs/parse", "hcl", 300*time.Millisecond)
	var timeout interface{ Timeout() bool }
	if !errors.As(got.err, &timeout) || !timeout.Timeout() {
		t.Fatalf("client of a hung call got %+v, want its own timeout", got)
	}
	testutil.WaitFor(t, 5*time.Second, "the request of a client that gave up let go", func() (bool, string) {
		n := p.Hanging(parse)
		return n == 0, fmt.Sprintf("%d requests held", n)
	})
	p.Clear(parse)
	if got := do(p, "GET", "/v1/status/leader", "", 5*time.Second); got.code != 200 {
		t.Fatalf("after clearing: %+v", got)
	}
	if n := b.hits.Load(); n != 1 {
		t.Errorf("target saw %d requests, want only the one after clearing", n)
	}
}

func TestHang_SelectsBlockingQueriesByQuery(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	blocking := Rule{Method: "GET", PathPrefix: "/v1/health/state/", Query: "index="}
	p.Set(blocking, Hang())
	ch := start(p, "GET", "/v1/health/state/any?index=7", "", 0)
	waitHanging(t, p, blocking, 1)
	if got := do(p, "GET", "/v1/health/state/any", "", 5*time.Second); got.code != 200 {
		t.Errorf("non-blocking read: %+v, want forwarded", got)
	}
	p.Clear(blocking)
	if got := waitResult(t, ch, "released blocking query"); got.code != 200 {
		t.Errorf("released blocking query: %+v", got)
	}
}

// TestHang_HoldsTheAnswerOfAQueryAlreadyForwarded: a blocking query that
// was waiting on the target when the hang began does not get the target's
// answer until the hang ends, as with a server that stopped answering.
func TestHang_HoldsTheAnswerOfAQueryAlreadyForwarded(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	ch := start(p, "GET", "/poll?index=3", "", 0)
	var answer chan struct{}
	select {
	case answer = <-b.polls: // the query waits on the target now
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not reach the target")
	}
	poll := Rule{Path: "/poll"}
	p.Set(poll, Hang())
	close(answer)
	waitHanging(t, p, poll, 1)
	select {
	case r := <-ch:
		t.Fatalf("the answer passed a hang: %+v", r)
	default:
	}
	p.Clear(poll)
	if got := waitResult(t, ch, "released answer"); got.code != 200 || got.body != "GET /poll ?index=3 " {
		t.Fatalf("released answer = %+v", got)
	}
}

// TestRefuse_DropsTheAnswerOfAQueryAlreadyForwarded: the client of a
// query in flight when Refuse is set sees its connection cut.
func TestRefuse_DropsTheAnswerOfAQueryAlreadyForwarded(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	ch := start(p, "GET", "/poll", "", 0)
	answer := <-b.polls
	p.Set(Rule{Path: "/poll"}, Refuse())
	close(answer)
	if got := waitResult(t, ch, "refused answer"); got.err == nil {
		t.Fatalf("refused answer reached the client: %+v", got)
	}
}

// TestForward_StreamsWithoutBuffering: the first line of a response that is
// still being written reaches the client, as a blocking query's or an
// event stream's would.
func TestForward_StreamsWithoutBuffering(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	resp, err := http.Get(p.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for _, want := range []string{"first", "second"} {
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("line %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %q not streamed through within 5s", want)
		}
		if want == "first" {
			close(b.release) // only now does the target finish
		}
	}
}

// TestClose_UnblocksEveryHangAndStream: held requests and a stream in
// progress all end, with an error, when the proxy closes.
func TestClose_UnblocksEveryHangAndStream(t *testing.T) {
	b := newBackend(t)
	defer close(b.release)
	p, err := New(b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := http.Get(p.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	first, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("stream's first line = %q, %v", first, err)
	}
	streamEnd := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(stream.Body)
		streamEnd <- err
	}()

	p.Set(Rule{PathPrefix: "/v1/"}, Hang())
	var results []<-chan result
	for i := 0; i < 3; i++ {
		results = append(results, start(p, "GET", fmt.Sprintf("/v1/job/%d", i), "", 0))
	}
	waitHanging(t, p, Rule{PathPrefix: "/v1/"}, 3)
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	for i, ch := range results {
		if got := waitResult(t, ch, fmt.Sprintf("held request %d after Close", i)); got.err == nil {
			t.Errorf("held request %d after Close: %+v, want an error", i, got)
		}
	}
	select {
	case err := <-streamEnd:
		if err == nil {
			t.Error("the stream ended cleanly when the proxy closed, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when the proxy closed")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if got := do(p, "GET", "/v1/jobs", "", 2*time.Second); got.err == nil {
		t.Errorf("request to a closed proxy: %+v", got)
	}
}

func TestRefuseAll_ClosesOpenAndNewConnectionsUntilForwardAll(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	// A client with a connection kept alive, as drover's would.
	c := &http.Client{Timeout: 5 * time.Second}
	get := func() (int, error) {
		resp, err := c.Get(p.URL() + "/v1/status/leader")
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("before: %d %v", code, err)
	}
	p.RefuseAll()
	if code, err := get(); err == nil {
		t.Fatalf("while refusing: %d, want a connection error", code)
	}
	p.ForwardAll()
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("after ForwardAll: %d %v", code, err)
	}
}

func TestCount_AndRequestLog(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Set(Rule{Path: "/v1/agent/checks"}, Status(500, ""))
	for _, pq := range []string{"/v1/kv/a", "/v1/kv/b?cas=3", "/v1/agent/checks"} {
		do(p, "PUT", pq, "", 5*time.Second)
	}
	if n := p.Count(Rule{PathPrefix: "/v1/kv/"}); n != 2 {
		t.Errorf("count of /v1/kv/ = %d, want 2", n)
	}
	if n := p.Count(Rule{Query: "cas="}); n != 1 {
		t.Errorf("count of cas writes = %d, want 1", n)
	}
	if n := p.Count(Rule{Path: "/v1/agent/checks"}); n != 1 {
		t.Errorf("count of a request answered by a rule = %d, want 1", n)
	}
	log := p.Requests()
	if len(log) != 3 || log[1].Method != "PUT" || log[1].Path != "/v1/kv/b" || log[1].Query != "cas=3" || log[1].At.IsZero() {
		t.Errorf("request log = %+v", log)
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Go(func() { do(p, "GET", "/v1/jobs", "", 5*time.Second) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitCount(ctx, Rule{Method: "GET", Path: "/v1/jobs"}, 5); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// TestCut_EndsAStreamInProgressAndLetsTheNextOneThrough: a cut drops the
// connection under a stream the rule selects, and the client sees its
// body end with an error; a new request passes.
func TestCut_EndsAStreamInProgressAndLetsTheNextOneThrough(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	resp, err := http.Get(p.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != "first" {
		t.Fatalf("first line %q, %v", sc.Text(), sc.Err())
	}
	if n := p.Cut(Rule{Path: "/other"}); n != 0 {
		t.Errorf("a rule selecting nothing cut %d responses", n)
	}
	if n := p.Cut(Rule{Path: "/stream"}); n != 1 {
		t.Fatalf("cut %d responses, want 1", n)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the cut stream ended cleanly, want an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cut stream did not end within 5s")
	}
	close(b.release)
	resp2, err := http.Get(p.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if body, err := io.ReadAll(resp2.Body); err != nil || string(body) != "first\nsecond\n" {
		t.Errorf("the next stream = %q, %v", body, err)
	}
}
