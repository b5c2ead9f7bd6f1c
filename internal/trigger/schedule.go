package trigger

import (
	"time"

	"github.com/robfig/cron/v3"
)

// maxCatchUp bounds the slots Due walks through after a long downtime
// (a year of a per-minute schedule is 525,600): past it, the latest
// missed slot is found from the last few before now.
const maxCatchUp = 100_000

// Due decides a schedule, pure: given the last slot that fired (or when
// the trigger was created, if none did) and now, it returns the slot to
// fire now, if any, and the slot after now. Slots are computed in loc, so
// "0 9 * * *" is 09:00 local time whatever the offset. Across DST
// changes: a time that does not exist that day (02:30 in a spring gap) is
// skipped that day, as robfig/cron does; a time that exists twice (01:30
// in an autumn overlap) fires once, at its first occurrence (robfig/cron
// alone would fire twice).
//
// Missed slots (the control plane was down, or the trigger suspended)
// fire once, not once each: fire is the latest slot at or before now, so
// a restart after a day's downtime starts one run, not a storm.
func Due(sched cron.Schedule, loc *time.Location, last, now time.Time) (fire *time.Time, next time.Time) {
	t := nextSlot(sched, loc, last)
	if t.IsZero() || t.After(now) {
		return nil, t
	}
	for range maxCatchUp {
		n := nextSlot(sched, loc, t)
		if n.IsZero() || n.After(now) {
			return &t, n
		}
		t = n
	}
	// Very far behind: look only at the last day before now.
	t = nextSlot(sched, loc, now.Add(-24*time.Hour))
	for {
		n := nextSlot(sched, loc, t)
		if t.After(now) { // no slot in the last day: last is old but the schedule rare
			return nil, t
		}
		if n.IsZero() || n.After(now) {
			return &t, n
		}
		t = n
	}
}

// nextSlot is the slot after t, skipping a repeat of t's local wall-clock
// time (the second 01:30 of an autumn overlap).
func nextSlot(sched cron.Schedule, loc *time.Location, t time.Time) time.Time {
	t = t.In(loc)
	n := sched.Next(t)
	for i := 0; i < 4 && !n.IsZero() && sameWall(n, t) && n.Sub(t) <= 2*time.Hour; i++ {
		n = sched.Next(n)
	}
	return n
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute() && a.Second() == b.Second()
}
