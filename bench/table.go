package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// describeMachine is the line the table is read against.
func describeMachine(ctx context.Context, nomadBin string) (string, error) {
	out, err := exec.CommandContext(ctx, nomadBin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("nomad version: %w", err)
	}
	nomadVersion := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	mem := "unknown RAM"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")) + ")"
				break
			}
		}
	}
	return fmt.Sprintf("%d cores%s, %s, %s %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, nomadVersion), nil
}

type row struct {
	name   string
	value  func(r *result) string
	target string
	// met judges the largest N; nil for rows without a target.
	met func(r *result) bool
}

func writeTable(w io.Writer, machine string, results []*result) {
	last := results[len(results)-1]
	rows := []row{
		{"cold sync: `nomad job run -detach` loop", func(r *result) string { return secs(r.loopCold) }, "", nil},
		{"cold sync: `drover apply` (plan-every-job is the same: nothing to remember on a cold sync)", func(r *result) string { return secs(r.droverCold) }, "", nil},
		{"cold sync speed-up, drover vs loop", func(r *result) string { return fmt.Sprintf("%.1f×", ratio(r.loopCold, r.droverCold)) },
			"≥ 5×", func(r *result) bool { return ratio(r.loopCold, r.droverCold) >= 5 }},
		{"quiet cycle: Nomad API calls, drover agent", func(r *result) string { return fmt.Sprintf("%.1f (%s)", r.agentCalls, kinds(r)) },
			"≤ 2", func(r *result) bool { return r.agentCalls <= 2 }},
		{"quiet cycle: Nomad API calls, plan-every-job", func(r *result) string { return fmt.Sprintf("%.0f", r.planAll.calls) }, "", nil},
		{"quiet cycle: CPU, drover agent process (user+sys)", func(r *result) string { return millis(r.agentCPU) },
			"< 20 ms", func(r *result) bool { return r.agentCPU < 20*time.Millisecond }},
		{"quiet cycle: CPU, engine in-process, drover", func(r *result) string { return millis(r.memo.cpu) }, "", nil},
		{"quiet cycle: CPU, engine in-process, plan-every-job", func(r *result) string { return millis(r.planAll.cpu) }, "", nil},
		{"quiet cycle: wall time, drover / plan-every-job", func(r *result) string {
			return millis(r.memo.wall) + " / " + millis(r.planAll.wall)
		}, "", nil},
		{"commit → registered (GitHub push webhook), median of 3", func(r *result) string { return secs(median(r.commitToRegistered)) },
			"< 2 s", func(r *result) bool { return median(r.commitToRegistered) < 2*time.Second }},
		{"hand edit → detected (`job.drift`), median of 3", func(r *result) string { return secs(median(r.handEditDetected)) },
			"< 2 s", func(r *result) bool { return median(r.handEditDetected) < 2*time.Second }},
		{"hand edit → corrected (`job.applied`), median of 3", func(r *result) string { return secs(median(r.handEditCorrected)) }, "", nil},
		{"agent peak RSS (VmHWM)", func(r *result) string { return fmt.Sprintf("%.1f MB", float64(r.rss)/1e6) },
			"< 100 MB", func(r *result) bool { return r.rss < 100e6 }},
	}
	fmt.Fprintf(w, "Machine: %s\n\n", machine)
	fmt.Fprint(w, "| measure |")
	for _, r := range results {
		fmt.Fprintf(w, " N=%d |", r.n)
	}
	fmt.Fprintf(w, " target (N=%d) | met |\n|---|", last.n)
	for range results {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprint(w, "---|---|\n")
	for _, rw := range rows {
		fmt.Fprintf(w, "| %s |", rw.name)
		for _, r := range results {
			fmt.Fprintf(w, " %s |", rw.value(r))
		}
		met := ""
		if rw.met != nil {
			met = "not met"
			if rw.met(last) {
				met = "met"
			}
		}
		fmt.Fprintf(w, " %s | %s |\n", rw.target, met)
	}
	for _, r := range results {
		if r.agentPlanned > 0 {
			fmt.Fprintf(w, "\nN=%d: a quiet cycle planned up to %d jobs.\n", r.n, r.agentPlanned)
		}
	}
}

func kinds(r *result) string {
	var ks []string
	for k, v := range r.agentCallKind {
		ks = append(ks, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s in %d cycles", strings.Join(ks, ", "), quietCycles)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
