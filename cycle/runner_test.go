package cycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
)

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

type emptyTree struct{}

func (emptyTree) Revision() string                { return "c1" }
func (emptyTree) Files() ([]string, error)        { return nil, nil }
func (emptyTree) ReadFile(string) ([]byte, error) { return nil, errors.New("none") }

type loadFunc func(ctx context.Context, tree jobs.Tree) (*jobs.Set, error)

func (f loadFunc) Load(ctx context.Context, tree jobs.Tree) (*jobs.Set, error) { return f(ctx, tree) }

type syncFunc func(ctx context.Context, set *jobs.Set) (*reconcile.Report, error)

func (f syncFunc) Sync(ctx context.Context, set *jobs.Set) (*reconcile.Report, error) {
	return f(ctx, set)
}

// TestRunner_StuckNamesTheStepWithoutProgress: a load that hangs is
// reported stuck in step load once it has gone past its budget without
// progress, and a load that keeps making progress is not.
func TestRunner_StuckNamesTheStepWithoutProgress(t *testing.T) {
	progress := &Progress{}
	release := make(chan struct{})
	inLoad := make(chan struct{})
	r := New(Parts{
		Sources: []NamedSource{{
			Source: SourceFunc(func(context.Context) (jobs.Tree, error) { return emptyTree{}, nil }),
			Loader: loadFunc(func(ctx context.Context, _ jobs.Tree) (*jobs.Set, error) {
				close(inLoad)
				<-release
				return &jobs.Set{Revision: "c1"}, nil
			}),
		}},
		Engine:   syncFunc(func(context.Context, *jobs.Set) (*reconcile.Report, error) { return &reconcile.Report{}, nil }),
		Progress: progress,
	}, Options{NomadTimeout: time.Second, StuckGrace: time.Second})
	if _, _, _, stuck := r.Stuck(time.Now()); stuck {
		t.Fatal("stuck before any cycle")
	}
	done := make(chan *Failure)
	go func() { _, f := r.Run(context.Background()); done <- f }()
	<-inLoad
	now := time.Now()
	if step, _, _, stuck := r.Stuck(now.Add(time.Second)); stuck || step != StepLoad {
		t.Errorf("Stuck within the budget = %s, %v; want load, not stuck", step, stuck)
	}
	step, idle, budget, stuck := r.Stuck(now.Add(3 * time.Second))
	if !stuck || step != StepLoad || budget != 2*time.Second || idle < 3*time.Second {
		t.Errorf("Stuck past the budget = %s %s %s %v; want load stuck, budget 2s", step, idle, budget, stuck)
	}
	progress.Touch()
	if _, _, _, stuck := r.Stuck(time.Now().Add(time.Second)); stuck {
		t.Error("stuck right after progress")
	}
	close(release)
	if f := <-done; f != nil {
		t.Fatalf("Run: %v", f)
	}
	if _, _, _, stuck := r.Stuck(time.Now().Add(time.Hour)); stuck || r.Step() != "" {
		t.Errorf("stuck or in step %q after the cycle", r.Step())
	}
}

// recorder is Rollouts that only records what it was given.
type recorder struct {
	recorded   []*reconcile.Report
	recordLive bool
}

func (r *recorder) Prepare(context.Context) error                  { return nil }
func (r *recorder) Pin(_ context.Context, set *jobs.Set) *jobs.Set { return set }
func (r *recorder) Record(ctx context.Context, rep *reconcile.Report) {
	r.recorded = append(r.recorded, rep)
	r.recordLive = ctx.Err() == nil
}
func (r *recorder) Wait(context.Context) error { return nil }
func (r *recorder) Close()                     {}

// TestRunner_InterruptedCycleRecordsItsRegisters: shutdown during the sync
// still records the registers made (their rollouts must be watched by the
// next agent), on a context that is still live.
func TestRunner_InterruptedCycleRecordsItsRegisters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ro := &recorder{}
	partial := &reconcile.Report{Revision: "c1"}
	r := New(Parts{
		Sources: []NamedSource{{
			Source: SourceFunc(func(context.Context) (jobs.Tree, error) { return emptyTree{}, nil }),
			Loader: loadFunc(func(context.Context, jobs.Tree) (*jobs.Set, error) { return &jobs.Set{}, nil }),
		}},
		Engine: syncFunc(func(context.Context, *jobs.Set) (*reconcile.Report, error) {
			cancel()
			return partial, context.Canceled
		}),
		Rollouts: ro,
	}, Options{})
	report, f := r.Run(ctx)
	if report != partial || !IsInterrupted(f) || f.Step != StepSync {
		t.Fatalf("Run = %v, %+v; want the partial report, interrupted at sync", report, f)
	}
	if len(ro.recorded) != 1 || ro.recorded[0] != partial || !ro.recordLive {
		t.Errorf("recorded %v (live ctx %v), want the partial report on a live context", ro.recorded, ro.recordLive)
	}
}

// TestRunner_StateErrorStopsAnApplyButNotAPlan: without the state an apply
// could re-register a quarantined spec; a plan goes on.
func TestRunner_StateErrorStopsAnApplyButNotAPlan(t *testing.T) {
	for _, optional := range []bool{false, true} {
		synced := false
		r := New(Parts{
			Sources: []NamedSource{{
				Source: SourceFunc(func(context.Context) (jobs.Tree, error) { return emptyTree{}, nil }),
				Loader: loadFunc(func(context.Context, jobs.Tree) (*jobs.Set, error) { return &jobs.Set{}, nil }),
			}},
			Engine: syncFunc(func(context.Context, *jobs.Set) (*reconcile.Report, error) {
				synced = true
				return &reconcile.Report{}, nil
			}),
			Rollouts: &failingState{},
		}, Options{StateOptional: optional})
		_, f := r.Run(context.Background())
		if optional && (f != nil || !synced) {
			t.Errorf("plan: %v, synced %v; want a sync without the state", f, synced)
		}
		if !optional && (f == nil || f.Step != StepState || synced) {
			t.Errorf("apply: %+v, synced %v; want a failure at step state and no sync", f, synced)
		}
	}
}

type failingState struct{ recorder }

func (*failingState) Prepare(context.Context) error { return errors.New("consul: connection refused") }

type holdFunc func(ctx context.Context, set *jobs.Set) (*jobs.Set, error)

func (f holdFunc) Hold(ctx context.Context, set *jobs.Set) (*jobs.Set, error) { return f(ctx, set) }

// TestRunner_ControlsHoldAfterPin: the engine gets the set the controls
// return; unreadable suspensions stop an apply (it could deploy a
// suspended job) but not a plan.
func TestRunner_ControlsHoldAfterPin(t *testing.T) {
	heldSet := &jobs.Set{NoPrune: "instance suspended"}
	for _, tc := range []struct {
		name     string
		err      error
		optional bool
		want     *jobs.Set
		step     Step
	}{
		{name: "held", want: heldSet},
		{name: "unreadable, apply", err: errors.New("consul: connection refused"), step: StepControl},
		{name: "unreadable, plan", err: errors.New("consul: connection refused"), optional: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded := &jobs.Set{}
			var synced *jobs.Set
			r := New(Parts{
				Sources: []NamedSource{{
					Source: SourceFunc(func(context.Context) (jobs.Tree, error) { return emptyTree{}, nil }),
					Loader: loadFunc(func(context.Context, jobs.Tree) (*jobs.Set, error) { return loaded, nil }),
				}},
				Engine: syncFunc(func(_ context.Context, set *jobs.Set) (*reconcile.Report, error) {
					synced = set
					return &reconcile.Report{}, nil
				}),
				Rollouts: &recorder{},
				Controls: holdFunc(func(_ context.Context, set *jobs.Set) (*jobs.Set, error) {
					if tc.err != nil {
						return set, tc.err
					}
					return heldSet, nil
				}),
			}, Options{StateOptional: tc.optional})
			_, f := r.Run(context.Background())
			switch {
			case tc.step != "":
				if f == nil || f.Step != tc.step || synced != nil {
					t.Fatalf("failure %+v, synced %v; want a failure at %s and no sync", f, synced, tc.step)
				}
			case f != nil:
				t.Fatalf("failure %+v", f)
			case tc.want != nil && synced != tc.want:
				t.Fatal("the engine did not get the held set")
			case tc.want == nil && synced != loaded:
				t.Fatal("a plan without readable suspensions did not sync the loaded set")
			}
		})
	}
}
