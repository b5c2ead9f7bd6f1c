package sandbox

import (
	"os"
	"strconv"
	"syscall"
)

// KillStrays kills the processes running as a uid u handed out and got
// back, and has not handed out again: what a finished command left behind
// outside its process group (a daemon that called setsid). The agent host
// calls it every second, so that a uid handed out again finds nothing of
// its previous holder running; killing them at each release instead would
// cost a process start per task. It returns how many it killed.
func KillStrays(u *Users) int {
	cand := u.strayCandidates()
	if len(cand) == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	alive := map[uint32]bool{}
	defer u.swept(alive)
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || !cand[st.Uid] {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
		alive[st.Uid] = true // gone soon, checked again next time
	}
	return killed
}
