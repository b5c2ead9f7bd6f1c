// Package imagecfg reads an image's configuration the same way for every
// backend that runs images (container, kubernetes): where the command
// works and whether the root filesystem can then be read-only, and which
// user the image asks for.
package imagecfg

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// WorkDir is the command's working directory and whether the root
// filesystem can be read-only: the step's workingDir, else the image's
// WORKDIR, else "work" in the agent's run directory runDir. A working
// directory in the image's filesystem (the image's WORKDIR, or an
// absolute workingDir outside runDir and /tmp) is one the command may
// write to: the root stays writable then.
func WorkDir(step, imageWD, runDir string) (wd string, readonly bool) {
	switch {
	case step == "" && (imageWD == "" || imageWD == "/"):
		return "work", true
	case step == "":
		return imageWD, false
	case !path.IsAbs(step):
		return step, true
	}
	clean := path.Clean(step)
	for _, w := range []string{runDir, "/tmp"} {
		if clean == w || strings.HasPrefix(clean, w+"/") {
			return clean, true
		}
	}
	return clean, false
}

// ParseUser reads a numeric uid[:gid]; a missing gid is the uid (an engine
// would make it 0, root's group, for a uid the image's /etc/passwd lacks).
func ParseUser(u string) (uid, gid int64, err error) {
	us, gs, hasGID := strings.Cut(u, ":")
	if uid, err = strconv.ParseInt(us, 10, 64); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("%q is not a numeric uid[:gid]", u)
	}
	gid = uid
	if hasGID {
		if gid, err = strconv.ParseInt(gs, 10, 64); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("%q is not a numeric uid[:gid]", u)
		}
	}
	return uid, gid, nil
}

// NonRootUser is the image's USER when it is a numeric uid[:gid] other
// than root; a name cannot be resolved without the image's /etc/passwd.
func NonRootUser(u string) (uid, gid int64, ok bool) {
	uid, gid, err := ParseUser(u)
	if err != nil || uid == 0 {
		return 0, 0, false
	}
	return uid, gid, true
}
