package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/metrics"
)

// maxWebhookBody bounds a webhook body. Push payloads list at most a few
// dozen commits; anything near this is not a push drover cares about.
const maxWebhookBody = 5 << 20

// Reasons a webhook is refused. They name what was wrong, never a value.
var (
	errNoSecret          = errors.New("webhooks are disabled: drover was started without --webhook-secret")
	errMissingSignature  = errors.New("missing X-Hub-Signature-256 header")
	errMalformedSig      = errors.New("malformed X-Hub-Signature-256 header: want sha256=<64 hex digits>")
	errSignatureMismatch = errors.New("signature does not match the body and --webhook-secret")
	errMissingToken      = errors.New("missing X-Gitlab-Token header")
	errTokenMismatch     = errors.New("X-Gitlab-Token does not match --webhook-secret")
)

// pushEvent is what drover reads from a GitHub or GitLab push payload.
type pushEvent struct {
	// ObjectKind is GitLab's kind of event (push, tag_push); GitHub has none.
	ObjectKind string `json:"object_kind"`
	// Ref is the full name of the pushed ref, refs/heads/… or refs/tags/….
	Ref string `json:"ref"`
	// After is the commit the ref points at after the push.
	After string `json:"after"`
	// Repository (GitHub, GitLab) and Project (GitLab) hold the pushed
	// repo's URLs. Kept raw: they are read only with many sources, and a
	// payload drover reads the ref of is not refused for their shape.
	Repository json.RawMessage `json:"repository"`
	Project    json.RawMessage `json:"project"`
}

// deliveryMemory is how many keys (delivery IDs, body digests) are
// remembered per provider: far more than the pushes of any plausible
// replay window, at 32 bytes each.
const deliveryMemory = 1000

// deliveries remembers the keys of the last n authentic deliveries of one
// provider, so that a replayed delivery (the same request sent again, by
// an attacker who captured it or by the provider's "redeliver" button)
// starts no second cycle. Keys are kept as digests: memory is bounded
// whatever their length.
type deliveries struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]bool
	// ring holds the remembered digests oldest first from next on, so the
	// oldest is forgotten when a new one arrives.
	ring [][sha256.Size]byte
	next int
}

func newDeliveries(n int) *deliveries {
	return &deliveries{seen: make(map[[sha256.Size]byte]bool, n), ring: make([][sha256.Size]byte, 0, n)}
}

// first reports whether none of a delivery's keys is remembered, and then
// remembers them. Empty keys are left out: a delivery without an ID is
// recognised by its other keys only.
func (d *deliveries) first(keys ...string) bool {
	sums := make([][sha256.Size]byte, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			sums = append(sums, sha256.Sum256([]byte(k)))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sum := range sums {
		if d.seen[sum] {
			return false
		}
	}
	for _, sum := range sums {
		d.remember(sum)
	}
	return true
}

// remember adds sum, forgetting the oldest past the bound; it needs d.mu
// held.
func (d *deliveries) remember(sum [sha256.Size]byte) {
	if d.seen[sum] {
		return
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, sum)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = sum
		d.next = (d.next + 1) % len(d.ring)
	}
	d.seen[sum] = true
}

// webhookRequest carries what every log line of one delivery repeats.
type webhookRequest struct {
	ctx      context.Context
	provider string
	// delivery is the provider's ID of the delivery, "" when it sent none.
	delivery string
	// from names the delivery in its events.
	from events.Delivery
}

func (a *Agent) newWebhookRequest(r *http.Request, provider, deliveryHeader string) webhookRequest {
	id := r.Header.Get(deliveryHeader)
	return webhookRequest{ctx: r.Context(), provider: provider, delivery: id,
		from: events.Delivery{Provider: provider, RemoteAddr: r.RemoteAddr, Delivery: id}}
}

// replayed answers a delivery whose ID, or whose other keys, were seen
// already, and reports whether it did. Call it only once the delivery is
// authentic and read: an unauthenticated request must not be able to burn
// a key.
func (a *Agent) replayed(w http.ResponseWriter, req webhookRequest, seen *deliveries, keys ...string) bool {
	if req.delivery != "" {
		keys = append(keys, "id:"+req.delivery)
	}
	if seen.first(keys...) {
		return false
	}
	a.ignore(w, req, false, "", "duplicate delivery")
	return true
}

// githubWebhook handles POST /webhook/github: a push whose HMAC-SHA256
// signature matches starts a cycle if it moved the followed ref. A
// delivery ID in seen already is ignored.
func (a *Agent) githubWebhook(w http.ResponseWriter, r *http.Request, seen *deliveries) {
	req := a.newWebhookRequest(r, "github", "X-GitHub-Delivery")
	if a.opts.WebhookSecret == "" {
		a.reject(w, req, http.StatusForbidden, errNoSecret)
		return
	}
	body, ok := a.readWebhookBody(w, r, req)
	if !ok {
		return
	}
	if err := verifyGitHubSignature(a.opts.WebhookSecret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
		a.reject(w, req, http.StatusUnauthorized, err)
		return
	}
	// The signature covers the body, not X-GitHub-Delivery: a captured
	// delivery sent again under a new ID is still the same signed body.
	// GitHub never sends one body twice (it carries the push's times)
	// except as a redelivery.
	bodySum := sha256.Sum256(body)
	if a.replayed(w, req, seen, "body:"+hex.EncodeToString(bodySum[:])) {
		return
	}
	switch event := r.Header.Get("X-GitHub-Event"); event {
	case "push":
	case "ping":
		a.events.Emit(events.WebhookPing{Delivery: req.from}, "webhook set up: GitHub sent a ping")
		a.opts.Metrics.WebhookDelivery(req.provider, metrics.WebhookIgnored)
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
		return
	default:
		a.ignore(w, req, false, "", fmt.Sprintf("event %q is not a push", event))
		return
	}
	payload, err := githubPayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		a.reject(w, req, http.StatusBadRequest, err)
		return
	}
	var p pushEvent
	if err := json.Unmarshal(payload, &p); err != nil || p.Ref == "" {
		a.reject(w, req, http.StatusBadRequest, errors.New("push payload is not JSON with a ref"))
		return
	}
	a.push(w, req, p)
}

// gitlabWebhook handles POST /webhook/gitlab: a push or tag push hook
// whose X-Gitlab-Token matches starts a cycle if it moved the followed ref.
// A delivery ID (X-Gitlab-Event-UUID) in seen already is ignored.
func (a *Agent) gitlabWebhook(w http.ResponseWriter, r *http.Request, seen *deliveries) {
	req := a.newWebhookRequest(r, "gitlab", "X-Gitlab-Event-UUID")
	if a.opts.WebhookSecret == "" {
		a.reject(w, req, http.StatusForbidden, errNoSecret)
		return
	}
	token := r.Header.Get("X-Gitlab-Token")
	switch {
	case token == "":
		a.reject(w, req, http.StatusUnauthorized, errMissingToken)
		return
	case !equalSecret(token, a.opts.WebhookSecret):
		a.reject(w, req, http.StatusUnauthorized, errTokenMismatch)
		return
	}
	body, ok := a.readWebhookBody(w, r, req)
	if !ok {
		return
	}
	if a.replayed(w, req, seen) {
		return
	}
	switch event := r.Header.Get("X-Gitlab-Event"); event {
	case "Push Hook", "Tag Push Hook":
	default:
		a.ignore(w, req, false, "", fmt.Sprintf("event %q is not a push", event))
		return
	}
	var p pushEvent
	if err := json.Unmarshal(body, &p); err != nil || p.Ref == "" {
		a.reject(w, req, http.StatusBadRequest, errors.New("push payload is not JSON with a ref"))
		return
	}
	if p.ObjectKind != "push" && p.ObjectKind != "tag_push" {
		a.ignore(w, req, false, p.Ref, fmt.Sprintf("object_kind %q is not a push", p.ObjectKind))
		return
	}
	a.push(w, req, p)
}

// push starts a cycle if the pushed ref is the one drover follows.
func (a *Agent) push(w http.ResponseWriter, req webhookRequest, p pushEvent) {
	if a.opts.Sources != nil {
		a.pushToSources(w, req, p)
		return
	}
	watched := ""
	if a.opts.RefName != nil {
		watched = a.opts.RefName()
	}
	if ok, why := matchRef(watched, p.Ref); !ok {
		// With a pinned ref every push is ignored, which is worth saying
		// where people look.
		a.ignore(w, req, !pinned(watched), p.Ref, why)
		return
	}
	a.events.Emit(events.WebhookPush{Delivery: req.from, Ref: p.Ref, Commit: p.After},
		"push to the followed ref; sync triggered")
	a.opts.Metrics.WebhookDelivery(req.provider, metrics.WebhookTriggered)
	code, answer := a.requestSync(req.ctx, "webhook")
	answer["ref"] = p.Ref
	writeJSON(w, code, answer)
}

// matchRef decides whether a push to pushed moves what drover follows.
// watched is the source's RefName: a full ref name; a commit SHA, which
// no push moves; or "" while the ref is not resolved yet, when any push
// may be the one, and a cycle costs only a fetch.
func matchRef(watched, pushed string) (bool, string) {
	switch {
	case watched == "":
		return true, ""
	case pinned(watched):
		return false, "drover follows a fixed commit (" + watched + "); no push moves it"
	case pushed == watched:
		return true, ""
	}
	return false, "drover follows " + watched
}

// pinned reports whether watched is a commit rather than a ref name.
func pinned(watched string) bool {
	return watched != "" && !strings.HasPrefix(watched, "refs/")
}

func (a *Agent) readWebhookBody(w http.ResponseWriter, r *http.Request, req webhookRequest) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		a.reject(w, req, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", maxWebhookBody))
		return nil, false
	case err != nil:
		a.reject(w, req, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return nil, false
	}
	return body, true
}

// reject answers a delivery drover refuses. The reason is safe to log and
// to return: it never holds the secret, a token or a signature.
func (a *Agent) reject(w http.ResponseWriter, req webhookRequest, code int, reason error) {
	a.events.Emit(events.WebhookRejected{Delivery: req.from, Status: code, Reason: reason.Error()},
		"webhook refused")
	a.opts.Metrics.WebhookDelivery(req.provider, metrics.WebhookRejected)
	writeJSON(w, code, map[string]string{"error": reason.Error()})
}

// ignore answers an authentic delivery that does not concern drover with
// 200, so the provider does not mark it failed.
// routine ignores (a push to a ref not followed) are logged at debug only.
func (a *Agent) ignore(w http.ResponseWriter, req webhookRequest, routine bool, ref, reason string) {
	a.events.Emit(events.WebhookIgnored{Delivery: req.from, Reason: reason, Ref: ref, Routine: routine}, "webhook ignored")
	a.opts.Metrics.WebhookDelivery(req.provider, metrics.WebhookIgnored)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": reason})
}

// verifyGitHubSignature checks header (X-Hub-Signature-256) against the
// HMAC-SHA256 of body keyed with secret.
func verifyGitHubSignature(secret string, body []byte, header string) error {
	if header == "" {
		return errMissingSignature
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return errMalformedSig
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errMalformedSig
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errSignatureMismatch
	}
	return nil
}

// githubPayload returns the JSON of a delivery: the body itself, or for a
// webhook set to application/x-www-form-urlencoded its payload field. The
// signature covers the raw body either way.
func githubPayload(contentType string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("form-encoded payload: %w", err)
	}
	return []byte(form.Get("payload")), nil
}

// equalSecret compares a presented secret with the configured one in time
// that depends on neither: comparing digests hides the length too.
func equalSecret(presented, secret string) bool {
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(secret))
	return hmac.Equal(a[:], b[:])
}
