package metrics

import "github.com/prometheus/client_golang/prometheus"

// Notification results, the values of drover_notifications_total's result
// label.
const (
	NotifySent    = "sent"
	NotifyFailed  = "failed"
	NotifyDropped = "dropped"
)

// Notifications counts notification deliveries, per target and message.
type Notifications struct {
	total *prometheus.CounterVec
}

// NewNotifications registers drover_notifications_total on m's registry,
// every result at zero. Called once per Metrics; nil m gives a counter that
// records nothing.
func NewNotifications(m *Metrics) *Notifications {
	if m == nil {
		return nil
	}
	n := &Notifications{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "notifications_total",
		Help: "Notifications by result: sent, failed (given up after retries) or dropped (queue full or shutdown), per target.",
	}, []string{"result"})}
	m.reg.MustRegister(n.total)
	for _, r := range []string{NotifySent, NotifyFailed, NotifyDropped} {
		n.total.WithLabelValues(r)
	}
	return n
}

// Delivered counts one notification; an unknown result counts as failed.
func (n *Notifications) Delivered(result string) {
	if n == nil {
		return
	}
	switch result {
	case NotifySent, NotifyFailed, NotifyDropped:
	default:
		result = NotifyFailed
	}
	n.total.WithLabelValues(result).Inc()
}
