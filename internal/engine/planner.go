// Package engine turns runs into attempts on backends and agent reports back
// into run state.
//
// The core is Plan: a pure function from a snapshot of one run and the time
// to the changes to make. Everything with I/O — loading the snapshot,
// applying the plan in a transaction, starting attempts on backends,
// ingesting agent events — sits around it, so the decisions can be tested
// with tables and no database.
package engine

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/internal/store"
)

// Snapshot is what Plan knows about one run.
type Snapshot struct {
	Run   store.Run
	Steps []store.Step // every step of the run, in workflow order
	// Counts of each expanded step's tasks by phase.
	Counts map[string]map[v1.Phase]int
	// Outputs of finished steps that an unexpanded step refers to, by step
	// then task index.
	Outputs map[string][]map[string]v1.Output
	// Files holds what the datalake foreach of a step about to expand
	// selected, by its rendered reference.
	Files map[string]FileSet
	// Ready holds Pending tasks whose backoff has passed, per step, at most
	// as many as could start now.
	Ready map[string][]store.Task
	// Active holds the run's attempts that have not finished.
	Active []store.Attempt
	// NextDue is the earliest backoff end of a Pending task not yet due.
	NextDue *time.Time
	// Capacity is how many more attempts the engine may start now.
	Capacity int
	// Quota is the project's (nil: none) and ProjectUse what the project's
	// unfinished attempts, in every run, ask for now.
	Quota      *v1.Quota
	ProjectUse Use
	// DefaultBackend is the project's (or else the engine's) backend for
	// steps that say auto or nothing.
	DefaultBackend string
	// BackendPolicy is the project's, for steps that say auto or nothing;
	// Backends names the backends this control plane has.
	BackendPolicy []v1.BackendRule
	Backends      map[string]bool
	// Stopping holds attempts already asked to stop (not asked again).
	Stopping map[string]bool
	// StaleAfter is how long an agent may stay silent before it is presumed
	// gone (a few heartbeat intervals).
	StaleAfter time.Duration
}

// Plan is the set of changes for one run.
type Plan struct {
	Run      *store.Run   // changed run row, nil if unchanged
	Steps    []store.Step // changed step rows
	NewTasks []store.Task // tasks of steps expanded now
	Starts   []Start      // attempts to create and dispatch
	Cancel   []store.Task // Pending tasks to mark Cancelled
	Stops    []store.Attempt
	// Expire holds attempts past their deadline with no report: the engine
	// stops them and records a timed-out exit.
	Expire []store.Attempt
	WakeAt *time.Time // when the run needs planning again (besides events)
	// Starved is set when due tasks were left waiting for engine capacity:
	// the engine wakes the run again when an attempt anywhere finishes.
	Starved bool
	// Use is ProjectUse with the planned starts added.
	Use Use
}

// Start is one attempt to create.
type Start struct {
	Task    store.Task
	Number  int
	Backend string
	Reason  string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return p.Run == nil && len(p.Steps) == 0 && len(p.NewTasks) == 0 && len(p.Starts) == 0 &&
		len(p.Cancel) == 0 && len(p.Stops) == 0 && len(p.Expire) == 0
}

// MakePlan decides what to do next for the run in snap at time now.
func MakePlan(snap Snapshot, now time.Time) Plan {
	// Indexes built once: a pass looks steps up by name for every step,
	// which must not cost the number of steps each time (workflows of
	// hundreds of steps).
	p := planner{snap: snap, now: now, byName: make(map[string]*store.Step, len(snap.Steps)),
		defs: make(map[string]*v1.Step, len(snap.Run.Spec.Steps)), needs: make(map[string][]string, len(snap.Run.Spec.Steps)),
		phases: make(map[string]v1.Phase, len(snap.Steps))}
	for i := range snap.Run.Spec.Steps {
		def := &snap.Run.Spec.Steps[i]
		p.defs[def.Name], p.needs[def.Name] = def, def.Needs
	}
	for i := range snap.Steps {
		s := snap.Steps[i]
		p.steps = append(p.steps, &s)
		p.byName[s.Name] = &s
		p.phases[s.Name] = s.Phase
	}
	return p.plan()
}

type planner struct {
	snap    Snapshot
	now     time.Time
	steps   []*store.Step
	byName  map[string]*store.Step
	defs    map[string]*v1.Step // the spec's steps by name
	needs   map[string][]string // each step's needs
	phases  map[string]v1.Phase // each step's phase, kept by setStep
	changed map[string]bool
	again   bool // plan again now: a step could expand once outputs are loaded
	// heldBack: a ready step waits unexpanded for capacity (see expandSteps).
	heldBack bool
	out      Plan
}

func (p *planner) plan() Plan {
	run := p.snap.Run
	if run.Phase.Done() {
		return Plan{}
	}
	p.changed = map[string]bool{}
	if run.Phase == v1.Pending {
		run.Phase = v1.Running
		run.StartedAt = ptr(p.now)
		p.out.Run = &run
	}
	if run.CancelRequested {
		p.cancel()
		p.finishSteps()
	} else {
		p.expireAttempts()
		// A step that finishes releases its dependents in the same pass.
		for {
			done := p.doneSteps()
			p.expandSteps()
			p.finishSteps()
			if p.doneSteps() == done {
				break
			}
		}
		p.startTasks()
	}
	p.finishRun(run)
	for _, s := range p.steps {
		if p.changed[s.Name] {
			p.out.Steps = append(p.out.Steps, *s)
		}
	}
	p.out.WakeAt = p.nextWake()
	return p.out
}

func (p *planner) setStep(s *store.Step, phase v1.Phase, msg string) {
	if s.Phase == phase && s.Message == msg {
		return
	}
	s.Phase = phase
	s.Message = msg
	p.phases[s.Name] = phase
	if phase == v1.Running && s.StartedAt == nil {
		s.StartedAt = ptr(p.now)
	}
	if phase.Done() && s.FinishedAt == nil {
		s.FinishedAt = ptr(p.now)
	}
	p.changed[s.Name] = true
}

// cancel stops everything: Pending tasks are cancelled here, running
// attempts are asked to stop and end Cancelled when their agent reports.
func (p *planner) cancel() {
	for _, tasks := range p.snap.Ready {
		p.out.Cancel = append(p.out.Cancel, tasks...)
	}
	for _, a := range p.snap.Active {
		if !p.snap.Stopping[a.ID] {
			p.out.Stops = append(p.out.Stops, a)
		}
	}
	for _, s := range p.steps {
		if !s.Expanded && !s.Phase.Done() {
			p.setStep(s, v1.Cancelled, "run cancelled")
		}
	}
}

// expireAttempts catches attempts past their deadline whose agent went
// silent (a live agent enforces the timeout itself and reports it).
func (p *planner) expireAttempts() {
	for _, a := range p.snap.Active {
		silent := a.HeartbeatAt == nil || p.now.Sub(*a.HeartbeatAt) > p.snap.StaleAfter
		if a.Deadline != nil && p.now.After(*a.Deadline) && silent {
			p.out.Expire = append(p.out.Expire, a)
		}
	}
}

// expandSteps creates the tasks of every step whose needs are all done, or
// skips it when a need did not succeed or its when-guard is false. Steps
// are expanded only while their tasks could start now (the capacity left
// after the tasks already waiting): a workflow of a thousand independent
// steps then has a few under way at a time, and a pass looks at those
// rather than at a thousand; the others wait unexpanded, and the run asks
// to be woken when capacity frees.
func (p *planner) expandSteps() {
	budget := p.snap.Capacity
	if par := p.snap.Run.Spec.Parallelism; par > 0 {
		budget = min(budget, par-len(p.snap.Active))
	}
	for _, s := range p.steps {
		if s.Expanded && !s.Phase.Done() {
			budget -= p.snap.Counts[s.Name][v1.Pending]
		}
	}
	for _, s := range p.steps {
		if s.Expanded || s.Phase.Done() {
			continue
		}
		def := p.defs[s.Name]
		if def == nil {
			p.setStep(s, v1.Failed, "step missing from the run's workflow spec")
			continue
		}
		ready, blocker := p.needsDone(def)
		if !ready {
			continue
		}
		if blocker != "" {
			p.setStep(s, v1.Skipped, blocker)
			continue
		}
		if budget <= 0 {
			p.heldBack = true
			continue
		}
		if !p.outputsLoaded(s.Name) {
			// A need finished in this pass: its outputs were not in the
			// snapshot. Expand on the next pass, right away.
			p.again = true
			continue
		}
		tasks, skip, err := expandStep(p.snap.Run, def, p.snap.Outputs, p.phases, p.snap.Files)
		switch {
		case err != nil:
			p.setStep(s, v1.Failed, err.Error())
		case skip != "":
			p.setStep(s, v1.Skipped, skip)
		default:
			budget -= len(tasks)
			s.Expanded = true
			s.Items = len(tasks)
			p.out.NewTasks = append(p.out.NewTasks, tasks...)
			// The new tasks are Pending and due now: offer them to startTasks.
			if p.snap.Ready == nil {
				p.snap.Ready = map[string][]store.Task{}
			}
			p.snap.Ready[s.Name] = append(p.snap.Ready[s.Name], tasks...)
			if p.snap.Counts == nil {
				p.snap.Counts = map[string]map[v1.Phase]int{}
			}
			p.snap.Counts[s.Name] = map[v1.Phase]int{v1.Pending: len(tasks)}
			if len(tasks) == 0 {
				p.setStep(s, v1.Succeeded, "foreach gave no items")
			} else {
				p.changed[s.Name] = true
			}
		}
	}
}

// outputsLoaded reports whether the snapshot holds the outputs of every
// step that step depends on (steps that declare none need no loading).
func (p *planner) outputsLoaded(step string) bool {
	for _, n := range upstream(p.needs, step) {
		if _, ok := p.snap.Outputs[n]; !ok && len(p.defs[n].Outputs) > 0 {
			return false
		}
	}
	return true
}

// needsDone says whether every need of def has finished, and if one did not
// succeed, why def will not run.
func (p *planner) needsDone(def *v1.Step) (bool, string) {
	var blocker string
	for _, n := range def.Needs {
		ns := p.byName[n]
		if ns == nil || !ns.Phase.Done() {
			return false, ""
		}
		if !ns.Phase.Ok() && blocker == "" {
			blocker = fmt.Sprintf("not run: need %q %s", n, strings.ToLower(string(ns.Phase)))
		}
	}
	return true, blocker
}

// startTasks starts due Pending tasks within the engine's capacity, the
// run's parallelism and each step's parallelism.
func (p *planner) startTasks() {
	capacity := p.snap.Capacity
	if par := p.snap.Run.Spec.Parallelism; par > 0 {
		capacity = min(capacity, par-len(p.snap.Active))
	}
	activeByStep := map[string]int{}
	for _, a := range p.snap.Active {
		activeByStep[a.Step]++
	}
	pending := 0
	use := p.snap.ProjectUse
	quotaFull := false
	for _, s := range p.steps {
		if !s.Expanded || s.Phase.Done() {
			continue
		}
		pending += p.snap.Counts[s.Name][v1.Pending]
		def := p.defs[s.Name]
		stepCap := capacity
		if def.Parallelism > 0 {
			stepCap = min(stepCap, def.Parallelism-activeByStep[s.Name])
		}
		backend, reason := chooseBackend(def, p.snap)
		started := 0
		for _, t := range p.snap.Ready[s.Name] {
			if started >= stepCap {
				break
			}
			if t.Phase != v1.Pending || (t.NextAt != nil && t.NextAt.After(p.now)) {
				continue
			}
			if over := overQuota(p.snap.Quota, use, t.Manifest.Resources); over != "" {
				// Wait for the project's running tasks to make room; the
				// step says for which quota.
				quotaFull = true
				if started == 0 && s.Phase != v1.Running {
					p.setStep(s, s.Phase, "waiting for the project's quota: "+over)
				}
				break
			}
			use = use.add(t.Manifest.Resources)
			p.out.Starts = append(p.out.Starts, Start{Task: t, Number: t.Attempts + 1, Backend: backend, Reason: reason})
			started++
		}
		capacity -= started
		if started > 0 && s.Phase != v1.Running {
			s.Backend = backend
			p.setStep(s, v1.Running, "")
		}
	}
	// Tasks left waiting only because the engine (or the project's quota)
	// is full: ask to be woken when capacity frees up anywhere, not just in
	// this run.
	p.out.Starved = pending > len(p.out.Starts) && (len(p.out.Starts) >= p.snap.Capacity || quotaFull) || p.heldBack
	p.out.Use = use
}

// chooseBackend applies the step's backend field; auto (or nothing) takes
// the project's policy, else its default.
func chooseBackend(def *v1.Step, snap Snapshot) (string, string) {
	switch def.Backend {
	case "", "auto":
		projectDefault := cmp.Or(snap.DefaultBackend, "local")
		var available func(string) bool
		if snap.Backends != nil {
			available = func(b string) bool { return snap.Backends[b] }
		}
		return v1.ChooseBackend(def, snap.BackendPolicy, projectDefault, available)
	default:
		return def.Backend, "step asks for " + def.Backend
	}
}

func (p *planner) doneSteps() int {
	n := 0
	for _, s := range p.steps {
		if s.Phase.Done() {
			n++
		}
	}
	return n
}

// finishSteps closes expanded steps whose tasks are all done.
func (p *planner) finishSteps() {
	starting := map[string]int{}
	for _, st := range p.out.Starts {
		starting[st.Task.Step]++
	}
	cancelled := map[string]int{}
	for _, t := range p.out.Cancel {
		cancelled[t.Step]++
	}
	for _, s := range p.steps {
		if !s.Expanded || s.Phase.Done() {
			continue
		}
		c := p.snap.Counts[s.Name]
		open := c[v1.Pending] + c[v1.Running] - cancelled[s.Name]
		if open > 0 || starting[s.Name] > 0 {
			continue
		}
		switch {
		case c[v1.Failed]+c[v1.Lost] > 0:
			p.setStep(s, v1.Failed, fmt.Sprintf("%d of %d items failed", c[v1.Failed]+c[v1.Lost], s.Items))
		case c[v1.Cancelled]+cancelled[s.Name] > 0:
			p.setStep(s, v1.Cancelled, "run cancelled")
		default:
			p.setStep(s, v1.Succeeded, "")
		}
	}
}

// finishRun ends the run once every step is done.
func (p *planner) finishRun(run store.Run) {
	if p.out.Run != nil {
		run = *p.out.Run
	}
	var failed []string
	cancelled := false
	for _, s := range p.steps {
		if !s.Phase.Done() {
			return
		}
		switch s.Phase {
		case v1.Failed:
			failed = append(failed, s.Name)
		case v1.Cancelled:
			cancelled = true
		}
	}
	if len(p.snap.Active) > len(p.out.Expire) {
		return // stopping attempts still have to report
	}
	sort.Strings(failed)
	switch {
	case run.CancelRequested || (cancelled && len(failed) == 0):
		run.Phase, run.Message = v1.Cancelled, "cancelled"
	case len(failed) > 0:
		run.Phase, run.Message = v1.Failed, "failed steps: "+strings.Join(failed, ", ")
	default:
		run.Phase, run.Message = v1.Succeeded, ""
	}
	run.FinishedAt = ptr(p.now)
	p.out.Run = &run
}

// nextWake is the earliest time the run needs planning without an event:
// a retry's backoff ending or an attempt's deadline passing.
func (p *planner) nextWake() *time.Time {
	var at *time.Time
	earliest := func(t *time.Time) {
		if t != nil && (at == nil || t.Before(*at)) {
			at = ptr(*t)
		}
	}
	if p.again {
		earliest(&p.now)
	}
	earliest(p.snap.NextDue)
	for _, a := range p.snap.Active {
		earliest(a.Deadline)
	}
	if at != nil && at.Before(p.now) {
		at = ptr(p.now)
	}
	return at
}

func ptr[T any](v T) *T { return &v }
