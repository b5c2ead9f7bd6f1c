package sandbox

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"sync"
)

// Task users: when the agent runs as root, each running attempt's command
// runs as its own unprivileged uid (and gid) from a range no account of the
// machine uses, so that attempts cannot read each other's working
// directories, and files of root (the control plane's data, the KEK) are
// closed to them. Being numbers only, they need no /etc/passwd entries.
//
// Each agent host (one per local backend root; tests run several on one
// machine) has a range of its own, so that hosts never hand out the same
// uid; all ranges lie in [TaskUIDBase, TaskUIDEnd].
const (
	TaskUIDBase  = 2_000_000_000 // far above the ranges distributions and user namespaces hand out
	TaskUIDCount = 65536         // uids of one host
	TaskUIDSlots = 32000         // host ranges
	TaskUIDEnd   = TaskUIDBase + TaskUIDSlots*TaskUIDCount - 1
)

// TaskUIDRange is the first uid of the range of the host of root.
func TaskUIDRange(root string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(root))
	return TaskUIDBase + (h.Sum32()%TaskUIDSlots)*TaskUIDCount
}

// ErrNoTaskUser is Take's answer when every task uid is in use.
var ErrNoTaskUser = errors.New("every task user id is in use")

// Users hands out task uids, one per running attempt. Uids are picked at
// random among the free ones, so that an agent host restarted while
// commands ran (whose uids it no longer knows) is unlikely to give a
// leftover's uid to a new attempt before the leftover is killed.
type Users struct {
	lo, n    uint32
	mu       sync.Mutex
	used     map[uint32]bool
	released map[uint32]bool // handed back, maybe with strays running (KillStrays)
}

// NewUsers hands out uids lo to lo+n-1.
func NewUsers(lo, n uint32) *Users {
	return &Users{lo: lo, n: n, used: map[uint32]bool{}, released: map[uint32]bool{}}
}

// Take reserves a free uid.
func (u *Users) Take() (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if uint32(len(u.used)+len(u.released)) >= u.n {
		return 0, ErrNoTaskUser
	}
	for {
		// Not a released uid: KillStrays may be killing what runs as it.
		uid := u.lo + rand.Uint32N(u.n)
		if !u.used[uid] && !u.released[uid] {
			u.used[uid] = true
			return uid, nil
		}
	}
}

// Release frees a uid once its command is gone (see KillStrays for what
// it may have left running).
func (u *Users) Release(uid uint32) {
	u.mu.Lock()
	delete(u.used, uid)
	u.released[uid] = true
	u.mu.Unlock()
}

// strayCandidates are the uids released: a process of one of them was
// left behind by a finished command. They are not handed out again until
// a sweep finds none (swept).
func (u *Users) strayCandidates() map[uint32]bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := make(map[uint32]bool, len(u.released))
	for uid := range u.released {
		c[uid] = true
	}
	return c
}

// swept gives back to the pool the released uids none of whose processes
// remain.
func (u *Users) swept(alive map[uint32]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for uid := range u.released {
		if !alive[uid] {
			delete(u.released, uid)
		}
	}
}
