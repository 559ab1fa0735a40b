package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tailBytes is how much of an agent's log an error message quotes.
const tailBytes = 16 << 10

// process is one agent the cluster started. It owns the *exec.Cmd and the
// goroutine that waits for it, so nothing else ever signals or reaps it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string        // the agent's log file, "" when logging to Options.LogOutput
	tail    func() string // the end of the agent's log
	done    chan struct{}
	err     error // from cmd.Wait; read only after done is closed
}

// startProcess runs bin with args in dir. Output goes to out, each line
// prefixed with name, when out is non-nil (callers wrap a shared writer in a
// syncWriter), else to <dir>/<name>.log.
func startProcess(name, bin string, args []string, dir string, out io.Writer) (*process, error) {
	p := &process{name: name, done: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	afterWait := func() {}
	if out == nil {
		p.logPath = filepath.Join(dir, name+".log")
		f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open %s log: %w", name, err)
		}
		defer f.Close() // the agent has its own descriptor once started
		// StartConsul appends to the same file; mark where each run begins
		// so the tail of a failed restart is not mistaken for the last run.
		fmt.Fprintf(f, "==> testcluster: starting %s\n", strings.Join(cmd.Args, " "))
		// The agent writes the file itself rather than through a pipe to us,
		// so its log stays complete if the test binary dies, which is when
		// the log is wanted most.
		cmd.Stdout, cmd.Stderr = f, f
		p.tail = func() string { return readTail(p.logPath, tailBytes) }
	} else {
		tb := newTailBuffer(tailBytes)
		pw := &prefixWriter{w: out, prefix: name + ": "}
		w := io.MultiWriter(pw, tb)
		cmd.Stdout, cmd.Stderr = w, w
		p.tail = tb.String
		afterWait = pw.flush
		// Nomad's plugins could inherit the output pipe and hold it open
		// after the agent exits; do not let Wait block on them forever.
		cmd.WaitDelay = 5 * time.Second
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		afterWait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id of the agent we started.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited is closed once the agent has exited and been reaped.
func (p *process) exited() <-chan struct{} { return p.done }

// exitErr describes how the agent ended, with the tail of its log, for a
// start-up that failed because the agent died.
func (p *process) exitErr() error {
	<-p.done
	return fmt.Errorf("%s exited during start-up (%v)%s", p.name, p.err, p.logQuote())
}

// logQuote is the end of the agent's log formatted for an error message.
func (p *process) logQuote() string {
	where := ""
	if p.logPath != "" {
		where = " (full log: " + p.logPath + ")"
	}
	return fmt.Sprintf("; last log lines%s:\n%s", where, p.tail())
}

// stop sends SIGTERM, waits up to grace for a clean exit, then SIGKILLs.
// Only the agent's own PID is signalled. A clean stop matters for Nomad:
// in dev mode it destroys its allocations on shutdown, while after SIGKILL
// its task processes would outlive it.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid(), err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed%s", p.name, p.pid(), grace, p.logQuote())
}

// readTail returns up to limit bytes from the end of the file at path, from
// the first whole line.
func readTail(path string, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	off := max(fi.Size()-limit, 0)
	buf := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	buf = buf[:n]
	if off > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	return strings.TrimRight(string(buf), "\n")
}

// tailBuffer keeps the last max bytes written to it, trimmed to whole lines
// when read, so error messages can quote the end of an agent's log.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{max: limit} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept lines, dropping a partial first line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) >= t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}

// syncWriter serialises writes from both agents to one LogOutput.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// prefixWriter tags each line with the agent's name so two agents can share
// one LogOutput. It passes on whole lines only, so lines from the two agents
// never interleave mid-line.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	var out []byte
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		out = append(out, p.prefix...)
		out = append(out, p.partial[:i+1]...)
		p.partial = p.partial[i+1:]
	}
	if len(out) > 0 {
		if _, err := p.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// flush writes a final line that had no newline, once the agent has exited.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		p.w.Write(append(append([]byte(p.prefix), p.partial...), '\n'))
		p.partial = nil
	}
}
