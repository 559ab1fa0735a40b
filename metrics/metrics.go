// Package metrics owns drover's Prometheus metrics: one registry per
// process, never the global one, typed recording methods, and the handler
// for GET /metrics.
//
// Every method is safe on a nil *Metrics and then records nothing, so code
// that runs without metrics (plan, apply, unit tests) simply holds nil.
//
// Label values are a closed set: each method maps a value outside its
// documented set to a fallback instead of inventing a series, so a caller's
// typo can never make cardinality grow.
package metrics

import (
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "drover"

// Cycle and fetch results.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
)

// Apply results.
const (
	ApplyOK       = "ok"
	ApplyConflict = "conflict"
	ApplyError    = "error"
)

// Rollout results, recorded by RolloutFinished: the final phases.
const (
	RolloutHealthy    = string(api.PhaseHealthy)
	RolloutFailed     = string(api.PhaseFailed)
	RolloutUnknown    = string(api.PhaseUnknown)
	RolloutSuperseded = string(api.PhaseSuperseded)
)

// Rollback results, recorded by RollbackFinished.
const (
	RollbackApplied = "applied"
	RollbackFailed  = "failed"
	RollbackUnknown = "unknown"
)

// jobStates are the values of the state label of drover_jobs: the values
// of api.Class, in the order the README lists them.
func jobStates() []string {
	return []string{string(api.ClassInSync), string(api.ClassCreate), string(api.ClassUpdate), string(api.ClassDrift), string(api.ClassError)}
}

// Metrics is drover's set of metrics on its own registry.
type Metrics struct {
	reg *prometheus.Registry

	syncDuration  *prometheus.HistogramVec
	fetchDuration *prometheus.HistogramVec
	lastSuccess   prometheus.Gauge
	jobs          *prometheus.GaugeVec
	drift         prometheus.Counter
	applies       *prometheus.CounterVec
	conflicts     prometheus.Counter
	rollouts      *prometheus.CounterVec
	rollbacks     *prometheus.CounterVec
	nomadRequests *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	leader        prometheus.Gauge
	suspended     prometheus.Gauge
	// sourceJobs and sourceRead exist only with many sources (--config).
	sourceJobs *prometheus.GaugeVec
	sourceRead *prometheus.GaugeVec

	// routes turns a Nomad API path into its route template.
	routes *routes
}

// New registers every metric, the Go runtime and process collectors, and
// drover_build_info for version on a new registry.
func New(version string) *Metrics {
	// Cycles take from well under a second (nothing changed) to minutes
	// (many jobs, slow registers); fetches from milliseconds to the
	// git timeout.
	cycleBuckets := []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		syncDuration: newHistogramVec("sync_duration_seconds",
			"Duration of a sync cycle (fetch, load, plan, apply, prune). result is failed when git or Nomad could not be reached.",
			cycleBuckets, "result"),
		fetchDuration: newHistogramVec("git_fetch_duration_seconds",
			"Duration of a git fetch (the first one clones).",
			cycleBuckets, "result"),
		lastSuccess: newGauge("last_successful_sync_timestamp_seconds",
			"Unix time at which the last sync cycle that reached git and Nomad finished."),
		jobs: newGaugeVec("jobs",
			"Jobs in git by the class the last sync cycle planned them in.",
			"state"),
		drift: newCounter("drift_detected_total",
			"Jobs found drifted from git (changed by hand), once per job per cycle."),
		applies: newCounterVec("applies_total",
			"Job registers by result: ok, conflict (check-index refused), error.",
			"result"),
		conflicts: newCounter("conflicts_total",
			"Registers Nomad refused because the job changed after it was planned."),
		rollouts: newCounterVec("rollouts_total",
			"Finished rollouts by result: healthy, failed, unknown, superseded.",
			"result"),
		rollbacks: newCounterVec("rollbacks_total",
			"Rollbacks to the last good commit by result: applied, failed.",
			"result"),
		nomadRequests: newCounterVec("nomad_requests_total",
			"Nomad API requests by method, route (IDs replaced by :id) and status class (2xx…5xx, or error when no response came).",
			"method", "endpoint", "code"),
		webhooks: newCounterVec("webhook_deliveries_total",
			"Webhook deliveries by provider (github, gitlab) and result: triggered, ignored, rejected.",
			"provider", "result"),
		leader: newGauge("leader",
			"1 while this replica leads its instance (or runs alone), 0 while it stands by."),
		suspended: newGauge("suspended",
			"1 while the whole instance is suspended (drover suspend), as its leader last read it."),
		routes: newRoutes(),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; labels carry drover's version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)

	m.sourceJobs = newGaugeVec("source_jobs",
		"With many sources (--config): each source's jobs by the class the last sync cycle planned them in.",
		"source", "state")
	m.sourceRead = newGaugeVec("source_read",
		"With many sources (--config): 1 when the last sync cycle fetched and loaded the source, 0 when it could not (its jobs are held).",
		"source")

	m.reg.MustRegister(
		m.syncDuration, m.fetchDuration, m.lastSuccess, m.jobs, m.drift, m.applies, m.conflicts,
		m.rollouts, m.rollbacks, m.nomadRequests, m.webhooks, m.leader, m.suspended, m.sourceJobs, m.sourceRead, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	// Series that exist from the start: rate() and alerts on a counter
	// need its zero before the first event.
	for _, r := range []string{ResultOK, ResultFailed} {
		m.syncDuration.WithLabelValues(r)
		m.fetchDuration.WithLabelValues(r)
	}
	for _, s := range jobStates() {
		m.jobs.WithLabelValues(s)
	}
	for _, r := range applyResults() {
		m.applies.WithLabelValues(r)
	}
	for _, r := range rolloutResults() {
		m.rollouts.WithLabelValues(r)
	}
	for _, r := range rollbackResults() {
		m.rollbacks.WithLabelValues(r)
	}
	for _, p := range webhookProviders() {
		for _, r := range webhookResults() {
			m.webhooks.WithLabelValues(p, r)
		}
	}
	return m
}

// The constructors of New's metrics, each in drover's namespace.

func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
}

func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
}

func newGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func newHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

// Registry is the registry every metric is on, for tests and for callers
// that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus text format. On a nil
// *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SyncFinished records one sync cycle; failed means it stopped before any
// job was touched (git or Nomad unreachable). A successful cycle also sets
// the last-success timestamp to end.
func (m *Metrics) SyncFinished(failed bool, took time.Duration, end time.Time) {
	if m == nil {
		return
	}
	if failed {
		m.syncDuration.WithLabelValues(ResultFailed).Observe(took.Seconds())
		return
	}
	m.syncDuration.WithLabelValues(ResultOK).Observe(took.Seconds())
	m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
}

// Suspended records whether the whole instance is suspended.
func (m *Metrics) Suspended(on bool) {
	if m == nil {
		return
	}
	m.suspended.Set(gaugeBool(on))
}

// Leader records whether this replica leads.
func (m *Metrics) Leader(leading bool) {
	if m == nil {
		return
	}
	m.leader.Set(gaugeBool(leading))
}

// FetchFinished records one git fetch.
func (m *Metrics) FetchFinished(failed bool, took time.Duration) {
	if m == nil {
		return
	}
	result := ResultOK
	if failed {
		result = ResultFailed
	}
	m.fetchDuration.WithLabelValues(result).Observe(took.Seconds())
}

// JobStates replaces the jobs-by-state gauge with a cycle's tally. States
// missing from counts are set to 0; unknown states are dropped, since the
// label set is fixed.
func (m *Metrics) JobStates(counts map[string]int) {
	if m == nil {
		return
	}
	for _, s := range jobStates() {
		m.jobs.WithLabelValues(s).Set(float64(counts[s]))
	}
}

// SourceStates records one source's outcome in a cycle: whether it was
// read, and its jobs by state, as JobStates does for all of them.
func (m *Metrics) SourceStates(source string, read bool, counts map[string]int) {
	if m == nil {
		return
	}
	m.sourceRead.WithLabelValues(source).Set(gaugeBool(read))
	for _, s := range jobStates() {
		m.sourceJobs.WithLabelValues(source, s).Set(float64(counts[s]))
	}
}

// DriftDetected adds n jobs found drifted in one cycle.
func (m *Metrics) DriftDetected(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.drift.Add(float64(n))
}

// Applied counts one register by result (ApplyOK, ApplyConflict,
// ApplyError; anything else counts as an error). A conflict is also
// counted in drover_conflicts_total.
func (m *Metrics) Applied(result string) {
	if m == nil {
		return
	}
	result = closed(result, applyResults(), ApplyError)
	if result == ApplyConflict {
		m.conflicts.Inc()
	}
	m.applies.WithLabelValues(result).Inc()
}

// RolloutFinished counts a rollout that ended: RolloutHealthy,
// RolloutFailed, RolloutSuperseded or RolloutUnknown; anything else counts
// as unknown.
func (m *Metrics) RolloutFinished(result string) {
	if m == nil {
		return
	}
	m.rollouts.WithLabelValues(closed(result, rolloutResults(), RolloutUnknown)).Inc()
}

// RollbackFinished counts a rollback: RollbackApplied or RollbackFailed;
// anything else counts as unknown rather than as either.
func (m *Metrics) RollbackFinished(result string) {
	if m == nil {
		return
	}
	m.rollbacks.WithLabelValues(closed(result, rollbackResults(), RollbackUnknown)).Inc()
}

// Webhook results.
const (
	WebhookTriggered = "triggered"
	WebhookIgnored   = "ignored"
	WebhookRejected  = "rejected"
)

// WebhookDelivery counts one webhook request. provider is github or
// gitlab (anything else counts as other); result is WebhookTriggered,
// WebhookIgnored or WebhookRejected.
func (m *Metrics) WebhookDelivery(provider, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(closed(provider, webhookProviders(), "other"), closed(result, webhookResults(), WebhookRejected)).Inc()
}

// The closed label sets New creates the series of and the recording
// methods hold their values to (see closed). A rollback's unknown and a
// webhook's other provider are only fallbacks, and have no series until
// they happen.
func applyResults() []string     { return []string{ApplyOK, ApplyConflict, ApplyError} }
func rollbackResults() []string  { return []string{RollbackApplied, RollbackFailed} }
func webhookProviders() []string { return []string{"github", "gitlab"} }
func webhookResults() []string   { return []string{WebhookTriggered, WebhookIgnored, WebhookRejected} }
func rolloutResults() []string {
	return []string{RolloutHealthy, RolloutFailed, RolloutUnknown, RolloutSuperseded}
}

// closed is v when set holds it and fallback otherwise, so a caller's typo
// cannot add a series.
func closed(v string, set []string, fallback string) string {
	if slices.Contains(set, v) {
		return v
	}
	return fallback
}

// gaugeBool is a yes/no gauge's value: 1 or 0.
func gaugeBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
