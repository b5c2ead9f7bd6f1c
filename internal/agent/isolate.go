package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/koya-dev/koya/internal/agent/sandbox"
)

// Task users (Options.Users, set by the agent host when it runs as root):
// the command runs as an unprivileged uid of its own, in a working
// directory only that uid can open (WorkDirName inside the attempt
// directory, which stays root's: manifest, token, outbox and result are
// closed to the command). Other attempts' directories, the control
// plane's data and the KEK file are root's and closed to it too.

// WorkDirName is the command's working directory in an attempt directory
// when it runs as a task user.
const WorkDirName = "work"

// taskUser reserves a uid for the command and hands the working
// directory (with the inputs and output directories the agent made in it)
// and the secret files to it. The returned func releases the uid.
func (a *attempt) taskUser(spec *sandbox.Spec, secretDir string) (release func(), err error) {
	if a.opts.Users == nil {
		return func() {}, nil
	}
	// The task user gets its working directory: it must be the attempt's
	// own, never a directory of the machine named by workingDir.
	if rel, err := filepath.Rel(filepath.Join(a.dir, WorkDirName), a.work); err != nil || !filepath.IsLocal(rel) && rel != "." {
		return nil, fmt.Errorf("workingDir %q must be a relative path inside the task's working directory on this backend", a.m.WorkDir)
	}
	// The attempt directory is traversable (not listable) so that the
	// command reaches its working directory; what is in it stays 0600.
	if err := os.Chmod(a.dir, 0o711); err != nil {
		return nil, err
	}
	if root := filepath.Dir(a.dir); !traversed.has(root) {
		if err := Traversable(root); err != nil {
			return nil, err
		}
		traversed.add(root)
	}
	uid, err := a.opts.Users.Take()
	if err != nil {
		return nil, err
	}
	// What the command leaves running as the uid (a daemon that left its
	// process group) is killed by the host's sweep (sandbox.KillStrays).
	release = func() { a.opts.Users.Release(uid) }
	for _, d := range []string{a.work, secretDir} {
		if d == "" {
			continue
		}
		// 0700: what the command makes there with its umask (0644 files)
		// stays its own.
		err := chownTree(d, int(uid), int(uid))
		if err == nil {
			err = os.Chmod(d, 0o700)
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("handing %s to the task user: %v", d, err)
		}
	}
	spec.UID, spec.GID = uid, uid
	return release, nil
}

// TaskUsers reports whether the agent host runs commands as task users
// (as root, unless KOYA_AGENT_TASK_USERS=false).
func TaskUsers() bool {
	return os.Geteuid() == 0 && os.Getenv("KOYA_AGENT_TASK_USERS") != "false"
}

// Traversable checks that a task user can pass through dir and every
// directory above it (the "others" execute bit: a task uid is nobody's
// owner or group).
func Traversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("tasks run as unprivileged users, who cannot pass through %s (mode %04o): make it traversable (chmod o+x %s; its files stay closed), or set KOYA_AGENT_TASK_USERS=false on the server to run tasks as root", d, st.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// traversed remembers roots found traversable: the check walks every
// directory up to /, and a root's parents do not change between attempts.
var traversed = &dirSet{m: map[string]bool{}}

type dirSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *dirSet) has(d string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.m[d] }
func (s *dirSet) add(d string)      { s.mu.Lock(); s.m[d] = true; s.mu.Unlock() }

// chownTree gives a tree the agent made to uid, never following links.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// useTaskUsers makes the agent host run commands as task users, and asks
// the kernel to refuse their connections to the cloud metadata addresses.
// It reports what it could not do; the users are used regardless.
func useTaskUsers(o *Options, root string) error {
	if !TaskUsers() {
		return nil
	}
	o.Users = sandbox.NewUsers(sandbox.TaskUIDRange(root), sandbox.TaskUIDCount)
	return sandbox.BlockMetadata(sandbox.TaskUIDBase, sandbox.TaskUIDEnd)
}
