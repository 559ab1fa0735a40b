package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agentProc is a running `drover agent` whose JSON log lines are kept
// with the time they arrived.
type agentProc struct {
	cmd    *exec.Cmd
	listen string
	done   chan struct{}

	mu    sync.Mutex
	lines []logLine
	// more is closed and replaced whenever a line arrives.
	more chan struct{}
}

type logLine struct {
	at    time.Time
	event map[string]any
}

func startAgent(bin string, args, env []string) (*agentProc, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"agent", "--listen", listen}, args...)...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	a := &agentProc{cmd: cmd, listen: listen, done: make(chan struct{}), more: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			a.mu.Lock()
			a.lines = append(a.lines, logLine{at: time.Now(), event: m})
			close(a.more)
			a.more = make(chan struct{})
			a.mu.Unlock()
		}
		_ = cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

// stop interrupts the agent (this PID only) and waits for it.
func (a *agentProc) stop() {
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// mark is a position in the log: waits look only at lines after it.
func (a *agentProc) mark() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.lines)
}

// wait returns the first line after from with event name (any, if "")
// that matches pred, and when it arrived.
func (a *agentProc) wait(ctx context.Context, from int, name string, timeout time.Duration, pred func(map[string]any) bool) (logLine, int, error) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		for i := from; i < len(a.lines); i++ {
			l := a.lines[i]
			if (name == "" || l.event["event"] == name) && (pred == nil || pred(l.event)) {
				a.mu.Unlock()
				return l, i + 1, nil
			}
		}
		from = len(a.lines)
		more := a.more
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return logLine{}, 0, ctx.Err()
		case <-a.done:
			return logLine{}, 0, errors.New("agent exited")
		case <-deadline:
			return logLine{}, 0, fmt.Errorf("no %s within %s", name, timeout)
		case <-more:
		}
	}
}

// waitQuiet waits until no cycle has finished for quiet, so a measurement
// starts from a settled agent and cluster.
func (a *agentProc) waitQuiet(ctx context.Context, quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, _, err := a.wait(ctx, a.mark(), "sync.done", quiet, nil)
		select {
		case <-a.done:
			return errors.New("agent exited")
		default:
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			// A cycle finished: not quiet yet.
		case !a.running():
			return nil
		}
	}
	return fmt.Errorf("agent not quiet within %s", timeout)
}

// running reports whether a sync.start has no sync.done yet.
func (a *agentProc) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.lines) - 1; i >= 0; i-- {
		switch a.lines[i].event["event"] {
		case "sync.done":
			return false
		case "sync.start":
			return true
		}
	}
	return false
}

// cpuTime is the process's user+system time so far, from /proc (clock
// ticks of 10ms; averaged over many cycles by the caller).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// peakRSS is VmHWM of the process, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}

// selfCPU is this process's user+system time, with microsecond precision.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// notifier tells the agent that a commit was pushed.
type notifier func(ctx context.Context, listen, commit string) error

// postSync is POST /v1/sync.
func postSync(ctx context.Context, listen, commit string) error {
	return post(ctx, "http://"+listen+"/v1/sync", nil, nil)
}

// postWebhook is a GitHub push webhook, signed the way GitHub signs it
// (X-Hub-Signature-256: HMAC-SHA256 of the body with the shared secret), for
// an agent started with --webhook-secret.
func postWebhook(secret string) notifier {
	return func(ctx context.Context, listen, commit string) error {
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": commit})
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return post(ctx, "http://"+listen+"/webhook/github", body, map[string]string{
			"X-GitHub-Event":      "push",
			"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
			"Content-Type":        "application/json",
		})
	}
}

func post(ctx context.Context, url string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
