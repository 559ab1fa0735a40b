package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven over the DevTools protocol, one
// per test. It counts the JavaScript dialogs that opened (none should: a
// dialog is injected script running) and the uncaught script errors.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	dialogs []string
	errors  []string
}

// chromiumPath is Debian's chromium, or $DROVER_CHROMIUM. The UI tests
// fail, never skip, without it: `make browser` installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DROVER_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("FAIL: the UI tests need a browser and chromium is not installed: run `make browser` "+
			"(as root: apt-get install -y chromium) or set DROVER_CHROMIUM to a Chromium binary (%v)", err)
	}
	return p
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// The first call starts the browser, on the context that lives as
	// long as the test.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("FAIL: start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, fmt.Sprint(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			// Close it, or the page stays blocked on it.
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.mu.Lock()
			d := ev.ExceptionDetails
			msg := fmt.Sprintf("%s at %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.dialogs) > 0 {
			t.Errorf("script ran in the page: %d dialogs opened: %q", len(b.dialogs), b.dialogs)
		}
		if len(b.errors) > 0 {
			t.Errorf("uncaught script errors in the page: %q", b.errors)
		}
	})
	return b
}

// open navigates to url and waits for it to load.
func (b *browser) open(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
}

// eval runs expression in the page.
func eval[T any](b *browser, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// waitFor waits until the JavaScript predicate holds in the page, which the
// page's own script keeps live: the test never reloads it.
func (b *browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		b.t.Fatalf("%s: not within %s (%v); the page said:\n%s", what, timeout, err, body)
	}
}

// rowIs is a predicate: the jobs table's row of job has status and, when
// lastGood is set, that last good commit.
func rowIs(job, status, lastGood string) string {
	return fmt.Sprintf(`(() => {
  const r = [...document.querySelectorAll("#jobs tbody tr")].find(r => r.dataset.job === %q);
  return !!r && r.dataset.status === %q && (%q === "" || r.cells[6].dataset.v === %q);
})()`, "default/"+job, status, lastGood, lastGood)
}

// markPage tags the document, so a later check can tell the page was
// updated in place rather than loaded again.
func (b *browser) markPage() {
	b.t.Helper()
	eval[bool](b, `(window.__droverMark = "not reloaded", true)`)
}

func (b *browser) assertNotReloaded() {
	b.t.Helper()
	if got := eval[string](b, `String(window.__droverMark)`); got != "not reloaded" {
		b.t.Fatalf("the page was reloaded (mark %q); it must update itself", got)
	}
}

// screenshot saves the viewport as name under $DROVER_SCREENSHOTS, or the
// test's temporary directory.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv("DROVER_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "<", `\x3c`).Replace(s) + "'"
}
