package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-dev/drover/events"
	"io"
	"net/http"
	"time"

	"github.com/drover-dev/drover/api"
)

// requestSync starts a cycle: here when this replica leads, on the leader
// (through Options.Triggers) when it stands by. It returns the HTTP answer.
func (a *Agent) requestSync(ctx context.Context, reason string) (int, map[string]string) {
	a.mu.Lock()
	role := a.role
	a.mu.Unlock()
	if role != RoleStandby {
		a.Trigger(reason)
		return http.StatusAccepted, map[string]string{"status": "sync triggered"}
	}
	if a.opts.Triggers == nil {
		return http.StatusServiceUnavailable, map[string]string{"error": "standby replica and no way to reach the leader"}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.opts.Triggers.Send(ctx, reason, a.opts.ID); err != nil {
		a.events.Emit(events.ForwardError{Reason: reason, Error: err.Error()}, "could not pass the sync request on to the leader")
		return http.StatusServiceUnavailable, map[string]string{"error": "standby replica could not reach the leader: " + err.Error()}
	}
	answer := map[string]string{"status": "sync triggered on the leader"}
	if l := a.knownLeader(ctx); l != nil {
		answer["leader"] = l.ID
	}
	return http.StatusAccepted, answer
}

// knownLeader is the replica leading now, asked of Consul at most once a
// second; nil when none does or it cannot be asked.
func (a *Agent) knownLeader(ctx context.Context) *Holder {
	now := time.Now()
	a.mu.Lock()
	fresh := now.Sub(a.leaderLookupAt) < time.Second
	l := a.leader
	a.mu.Unlock()
	if fresh {
		return l
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := a.opts.Leadership.Leader(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaderLookupAt = now
	if err != nil {
		return a.leader // the last one seen; the lookup is retried in a second
	}
	switch {
	case l == nil && a.noLeaderSince.IsZero():
		a.noLeaderSince = now
	case l != nil:
		a.noLeaderSince = time.Time{}
	}
	a.leader = l
	return l
}

// healthy is /healthz: a standby replica is healthy while some replica
// leads (it is ready to take over); the leader, or a lone agent, by its
// cycles.
func (a *Agent) healthy(ctx context.Context, now time.Time) (bool, string) {
	a.mu.Lock()
	role := a.role
	a.mu.Unlock()
	if role != RoleStandby {
		return a.status.healthy(now)
	}
	l := a.knownLeader(ctx)
	if l != nil {
		return true, fmt.Sprintf("standby, leader is %s (%s)", l.ID, l.Advertise)
	}
	a.mu.Lock()
	since := a.noLeaderSince
	a.mu.Unlock()
	if !since.IsZero() && now.Sub(since) > a.opts.NoLeaderAfter {
		return false, fmt.Sprintf("standby, and no replica has led for %s", now.Sub(since).Round(time.Second))
	}
	return true, "standby, no leader right now (an election is under way)"
}

// serveStatus answers /v1/status: this replica's view when it leads, the
// leader's (fetched from its advertised address) when it stands by, with
// "ha" saying which.
func (a *Agent) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.statusView(r.Context()))
}

// statusView is the /v1/status document, for the API and the web page.
func (a *Agent) statusView(ctx context.Context) any {
	a.mu.Lock()
	role, rollouts := a.role, a.rollouts
	a.mu.Unlock()
	ha := api.HA{Role: role, ID: a.opts.ID}
	if role != RoleSingle {
		ha.Leader = holderStatus(a.knownLeader(ctx))
	}
	if role == RoleStandby {
		if ha.Leader == nil {
			ha.Error = "no replica leads right now"
		} else if v, err := a.leaderStatus(ctx, ha.Leader); err == nil {
			v["ha"] = ha
			return v
		} else {
			ha.Error = "cannot reach the leader: " + err.Error()
		}
	}
	v := a.status.snapshot(time.Now())
	v.HA = &ha
	if rollouts != nil {
		v.Rollouts = rollouts.Status()
	}
	if a.opts.Controls != nil {
		c := a.opts.Controls.Status()
		v.Controls = &c
	}
	return v
}

// maxStatusBody bounds what a standby reads of the leader's status.
const maxStatusBody = 64 << 20

func (a *Agent) leaderStatus(ctx context.Context, l *api.Holder) (map[string]any, error) {
	if l.Advertise == "" {
		return nil, fmt.Errorf("leader %s advertises no address", l.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Advertise+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/v1/status: %s", l.Advertise, resp.Status)
	}
	var v map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStatusBody)).Decode(&v); err != nil {
		return nil, fmt.Errorf("GET %s/v1/status: %w", l.Advertise, err)
	}
	return v, nil
}

// holderStatus is the leader as /v1/status names it, nil for none.
func holderStatus(l *Holder) *api.Holder {
	if l == nil {
		return nil
	}
	v := api.Holder(*l)
	return &v
}
