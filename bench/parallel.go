package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/testcluster"
	"github.com/hashicorp/nomad/api"
)

// sweepRow is one parallelism of the cold-sync sweep: `drover apply
// --parallel p` and the register floor at the same p, each on a fresh
// cluster, measured back to back so they share the machine's load.
type sweepRow struct {
	parallel     int
	floor, apply time.Duration
	// calls are drover apply's Nomad calls by kind.
	calls map[string]int
}

// parallelSweep measures cold sync of n jobs at each parallelism against
// the register floor: the same jobs, parsed beforehand, registered straight
// through the API by p workers. The floor is what the Nomad server itself
// allows; drover's ratio to it is its overhead (parse, plan, read-back).
func (b *bench) parallelSweep(ctx context.Context, n int, ps []int) ([]sweepRow, error) {
	dir, repo, remove, err := scratchRepo("sweep-", n, 1)
	if err != nil {
		return nil, err
	}
	defer remove()
	var rows []sweepRow
	for _, p := range ps {
		row := sweepRow{parallel: p}
		b.logf("N=%d parallel %d: register floor", n, p)
		err := b.withCluster(ctx, filepath.Join(dir, fmt.Sprintf("floor-%d", p)), func(c *testcluster.Cluster) error {
			row.floor, err = registerFloor(ctx, c.Nomad(), repo, n, p)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("register floor at %d: %w", p, err)
		}
		b.logf("N=%d parallel %d: drover apply", n, p)
		err = b.withCluster(ctx, filepath.Join(dir, fmt.Sprintf("apply-%d", p)), func(c *testcluster.Cluster) error {
			px, err := startProxy(c.NomadAddr())
			if err != nil {
				return err
			}
			defer px.close()
			t0 := time.Now()
			row.apply, err = b.droverApplyVia(ctx, c, px.addr, repo, filepath.Join(dir, fmt.Sprintf("apply-data-%d", p)), "--parallel", fmt.Sprint(p))
			row.calls, _ = px.counter.snapshot()
			b.logf("N=%d parallel %d: drover apply's Nomad calls over time: %s; exited at %.1fs", n, p, px.counter.spans(t0), time.Since(t0).Seconds())
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("drover apply at %d: %w", p, err)
		}
		b.logf("N=%d parallel %d: floor %s, drover apply %s (%.2f×), calls %v", n, p, secs(row.floor), secs(row.apply), ratio(row.apply, row.floor), row.calls)
		rows = append(rows, row)
	}
	return rows, nil
}

// registerFloor parses the n job files (not timed), then registers them
// with p workers and returns how long the registers took.
func registerFloor(ctx context.Context, nc *api.Client, repo string, n, p int) (time.Duration, error) {
	parsed := make([]*api.Job, n)
	for i := range n {
		src, err := os.ReadFile(filepath.Join(repo, jobFile(i)))
		if err != nil {
			return 0, err
		}
		job, err := nc.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: string(src), Canonicalize: true})
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", jobFile(i), err)
		}
		parsed[i] = job
	}
	work := make(chan *api.Job)
	errs := make(chan error, p)
	var wg sync.WaitGroup
	start := time.Now()
	for range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				if _, _, err := nc.Jobs().Register(job, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
					errs <- fmt.Errorf("register %s: %w", *job.ID, err)
					return
				}
			}
		}()
	}
feed:
	for _, job := range parsed {
		select {
		case work <- job:
		case err := <-errs:
			close(work)
			wg.Wait()
			return 0, err
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return took, ctx.Err()
}

func writeSweep(w io.Writer, n int, rows []sweepRow) {
	fmt.Fprintf(w, "\n### Cold sync of %d jobs by parallelism (each on a fresh dev cluster, floor and drover back to back)\n\n", n)
	fmt.Fprintln(w, "| --parallel | register floor | `drover apply` | ratio | ratio to the 16-wide floor |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	var floor16 time.Duration
	for _, r := range rows {
		if r.parallel == 16 {
			floor16 = r.floor
		}
	}
	for _, r := range rows {
		to16 := "–"
		if floor16 > 0 {
			to16 = fmt.Sprintf("%.2f×", ratio(r.apply, floor16))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %.2f× | %s |\n", r.parallel, secs(r.floor), secs(r.apply), ratio(r.apply, r.floor), to16)
	}
}
