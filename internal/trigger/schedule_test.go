package trigger

import (
	"testing"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
)

func TestDue(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name, cron, zone string
		last, now        string
		fire             string // "" none
		next             string
	}{
		{"not yet", "*/5 * * * *", "", "2026-03-14T10:00:00Z", "2026-03-14T10:04:59Z", "", "2026-03-14T10:05:00Z"},
		{"exactly on the slot", "*/5 * * * *", "", "2026-03-14T10:00:00Z", "2026-03-14T10:05:00Z", "2026-03-14T10:05:00Z", "2026-03-14T10:10:00Z"},
		{"missed slots fire once, the latest", "*/5 * * * *", "", "2026-03-14T10:00:00Z", "2026-03-14T13:07:00Z", "2026-03-14T13:05:00Z", "2026-03-14T13:10:00Z"},
		{"a year down fires once", "* * * * *", "", "2025-03-14T10:00:00Z", "2026-03-14T10:00:30Z", "2026-03-14T10:00:00Z", "2026-03-14T10:01:00Z"},
		{"zone: 09:00 Tokyo is 00:00 UTC", "0 9 * * *", "Asia/Tokyo", "2026-03-13T23:00:00Z", "2026-03-14T00:00:00Z", "2026-03-14T00:00:00Z", "2026-03-15T00:00:00Z"},
		{"zone: before 09:00 Tokyo", "0 9 * * *", "Asia/Tokyo", "2026-03-13T23:00:00Z", "2026-03-13T23:59:59Z", "", "2026-03-14T00:00:00Z"},
		// New York: EST (-5) until 2026-03-08 02:00, then EDT (-4).
		{"09:00 New York before DST", "0 9 * * *", "America/New_York", "2026-03-06T15:00:00Z", "2026-03-07T14:00:00Z", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"},
		{"09:00 New York after DST is 13:00 UTC", "0 9 * * *", "America/New_York", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"},
		// 02:30 does not exist on 2026-03-08 in New York: skipped that day.
		{"spring gap", "30 2 * * *", "America/New_York", "2026-03-07T07:30:00Z", "2026-03-08T12:00:00Z", "", "2026-03-09T06:30:00Z"},
		// 01:30 happens twice on 2026-11-01 (EDT then EST): it fires once.
		{"autumn overlap", "30 1 * * *", "America/New_York", "2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"autumn overlap: no second firing", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:45:00Z", "", "2026-11-02T06:30:00Z"},
		{"descriptor", "@every 90s", "", "2026-03-14T10:00:00Z", "2026-03-14T10:01:30Z", "2026-03-14T10:01:30Z", "2026-03-14T10:03:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, loc, err := v1.ParseSchedule(v1.ScheduleSource{Cron: tt.cron, Timezone: tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			fire, next := Due(sched, loc, utc(tt.last), utc(tt.now))
			switch {
			case tt.fire == "" && fire != nil:
				t.Errorf("fired %v, want nothing", fire.UTC())
			case tt.fire != "" && (fire == nil || !fire.Equal(utc(tt.fire))):
				t.Errorf("fired %v, want %s", fire, tt.fire)
			}
			if !next.Equal(utc(tt.next)) {
				t.Errorf("next %v, want %s", next.UTC(), tt.next)
			}
		})
	}
}
