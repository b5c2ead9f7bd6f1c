package kubernetes

import (
	"strconv"
	"time"

	"github.com/koya-dev/koya/internal/backend/mock"
)

// Annotations koya's kwok stages read (scripts/kube.sh): under kwok no
// container runs, and a pod's outcome is what these ask for.
const (
	KwokExit   = "koya.dev/kwok-exit"   // "<code>" or "never"
	KwokReason = "koya.dev/kwok-reason" // terminated reason, e.g. OOMKilled
	KwokDelay  = "koya.dev/kwok-delay"  // time Running before the exit
)

// kwokDefaultDelay is how long a simulated command runs when its script
// does not say.
const kwokDefaultDelay = 100 * time.Millisecond

// kwokAnnotations translates a command into the kwok annotations of its
// pod, with the mock backend's script language (package mock):
//
//	["true"]                  exit 0
//	["false"]                 exit 1
//	["exit", "N"]             exit N
//	["sleep", "DUR", ...]     run DUR, then act as the rest (exit 0 if none)
//	["mock", "--exit", "3", "--sleep", "10ms", "--signal", "9", "--oom", "--output", ...]
//	anything else             exit 0 (a real command: the simulation succeeds)
//
// --output is checked and ignored: no agent runs to upload anything.
func kwokAnnotations(cmd []string) (map[string]string, error) {
	s, err := mock.ParseScript(cmd)
	if err != nil {
		return nil, err
	}
	delay := s.Sleep
	if delay == 0 {
		delay = kwokDefaultDelay
	}
	a := map[string]string{KwokExit: strconv.Itoa(s.Exit.Code), KwokDelay: delay.String()}
	if s.Exit.OOMKilled {
		a[KwokReason] = "OOMKilled"
	}
	return a, nil
}
