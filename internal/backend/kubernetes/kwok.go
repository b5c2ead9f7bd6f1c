package kubernetes

import (
	"fmt"
	"strconv"
	"time"
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
// --output is accepted and ignored: no agent runs to upload anything.
func kwokAnnotations(cmd []string) (map[string]string, error) {
	code, reason, delay, err := kwokScript(cmd)
	if err != nil {
		return nil, err
	}
	if delay == 0 {
		delay = kwokDefaultDelay
	}
	a := map[string]string{KwokExit: strconv.Itoa(code), KwokDelay: delay.String()}
	if reason != "" {
		a[KwokReason] = reason
	}
	return a, nil
}

func kwokScript(cmd []string) (code int, reason string, delay time.Duration, err error) {
	if len(cmd) == 0 {
		return 0, "", 0, nil
	}
	switch cmd[0] {
	case "true":
	case "false":
		code = 1
	case "exit":
		if len(cmd) < 2 {
			return 0, "", 0, fmt.Errorf("exit needs a code")
		}
		if code, err = strconv.Atoi(cmd[1]); err != nil {
			return 0, "", 0, fmt.Errorf("exit %q: not a number", cmd[1])
		}
	case "sleep":
		if len(cmd) < 2 {
			return 0, "", 0, fmt.Errorf("sleep needs a duration")
		}
		d, err := scriptDuration(cmd[1])
		if err != nil {
			return 0, "", 0, err
		}
		code, reason, delay, err = kwokScript(cmd[2:])
		return code, reason, delay + d, err
	case "mock":
		for i := 1; i < len(cmd); i++ {
			flag := cmd[i]
			if flag == "--oom" {
				code, reason = 137, "OOMKilled"
				continue
			}
			if i+1 >= len(cmd) {
				return 0, "", 0, fmt.Errorf("%s needs a value", flag)
			}
			i++
			v := cmd[i]
			switch flag {
			case "--exit":
				if code, err = strconv.Atoi(v); err != nil {
					return 0, "", 0, fmt.Errorf("--exit %q: not a number", v)
				}
			case "--signal":
				n, err := strconv.Atoi(v)
				if err != nil {
					return 0, "", 0, fmt.Errorf("--signal %q: not a number", v)
				}
				code = 128 + n
			case "--sleep":
				if delay, err = scriptDuration(v); err != nil {
					return 0, "", 0, err
				}
			case "--output":
			default:
				return 0, "", 0, fmt.Errorf("unknown flag %q", flag)
			}
		}
	}
	return code, reason, delay, nil
}

// scriptDuration takes Go durations and, like sleep(1), plain seconds.
func scriptDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return d, nil
}
