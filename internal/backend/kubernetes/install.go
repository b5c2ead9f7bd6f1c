package kubernetes

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InstallAgent is what a pod's init container runs (see
// Options.AgentInstall): it copies the running koya binary, static, to
// dir/koya (0755) and makes dir/run, the mount point of the agent's run
// directory inside the agent volume (which the task container mounts
// read-only, so that its runtime cannot create it), as Argo's emissary
// and the KFP launcher copy themselves into their pods.
func InstallAgent(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the koya binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".koya.tmp")
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "koya"))
}
