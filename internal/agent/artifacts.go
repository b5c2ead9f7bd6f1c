package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/koya-dev/koya/api/v1"
)

// checkPaths refuses input and output paths that leave the working
// directory or take one of the attempt directory's reserved names.
func (a *attempt) checkPaths() error {
	check := func(kind, name, p string) error {
		if !filepath.IsLocal(p) {
			return fmt.Errorf("%s %s: path %q must be relative and stay inside the working directory", kind, name, p)
		}
		rel, err := filepath.Rel(a.dir, filepath.Join(a.work, p))
		if err == nil && reserved[strings.Split(rel, string(filepath.Separator))[0]] {
			return fmt.Errorf("%s %s: path %q is reserved for the agent (%s)", kind, name, p, strings.Join(reservedNames(), ", "))
		}
		return nil
	}
	for _, in := range a.m.Inputs {
		if err := check("input", in.Name, in.Path); err != nil {
			return err
		}
		if len(in.Names) > 0 && len(in.Names) != len(in.Artifacts) {
			return fmt.Errorf("input %s: %d names for %d artifacts", in.Name, len(in.Names), len(in.Artifacts))
		}
		for _, n := range in.Names { // datalake paths, validated by the server too
			if !filepath.IsLocal(filepath.FromSlash(n)) || strings.Contains(n, "\\") {
				return fmt.Errorf("input %s: file %q must be a relative path that stays inside the input's directory", in.Name, n)
			}
		}
	}
	for name, p := range a.m.Outputs {
		if err := check("output", name, p); err != nil {
			return err
		}
	}
	return nil
}

func reservedNames() []string {
	var n []string
	for k := range reserved {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// fetchInputs places every input and returns name → absolute path.
func (a *attempt) fetchInputs(ctx context.Context) (map[string]string, error) {
	paths := map[string]string{}
	for _, in := range a.m.Inputs {
		dest := filepath.Join(a.work, in.Path)
		paths[in.Name] = dest
		if err := os.RemoveAll(dest); err != nil {
			return nil, fmt.Errorf("input %s: %v", in.Name, err)
		}
		if !in.Many {
			if len(in.Artifacts) != 1 {
				return nil, fmt.Errorf("input %s: expected one artifact, got %d", in.Name, len(in.Artifacts))
			}
			if err := a.fetch(ctx, in.Artifacts[0], dest); err != nil {
				return nil, fmt.Errorf("input %s: %v", in.Name, err)
			}
			continue
		}
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, fmt.Errorf("input %s: %v", in.Name, err)
		}
		for i, art := range in.Artifacts {
			name := strconv.Itoa(i)
			if len(in.Names) > 0 {
				name = filepath.FromSlash(in.Names[i])
			}
			if err := a.fetch(ctx, art, filepath.Join(dest, name)); err != nil {
				return nil, fmt.Errorf("input %s[%s]: %v", in.Name, name, err)
			}
		}
	}
	if len(a.m.Inputs) > 0 {
		a.system("inputs ready: %d", len(a.m.Inputs))
	}
	return paths, nil
}

// fetch downloads one artifact to dest (a file, or a directory from a tar
// stream), retrying while the control plane is unavailable, and checks
// its sha256 digest when it has one.
func (a *attempt) fetch(ctx context.Context, art v1.Output, dest string) error {
	return retry(ctx, a.opts, a.log, "fetching "+art.Ref, func(ctx context.Context) error {
		body, err := a.cl.getArtifact(ctx, art.Ref)
		if err != nil {
			return err
		}
		defer body.Close()
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		h := sha256.New()
		r := io.TeeReader(body, h)
		if art.Dir {
			if err := os.RemoveAll(dest); err != nil {
				return err
			}
			err = extractTar(r, dest)
			if err == nil {
				_, err = io.Copy(io.Discard, r) // tar padding counts in the digest
			}
		} else {
			err = writeFileFrom(dest, r)
		}
		if err != nil {
			return err
		}
		return checkDigest(art.Digest, h)
	})
}

func checkDigest(want string, h hash.Hash) error {
	hexWant, ok := strings.CutPrefix(want, "sha256:")
	if !ok {
		return nil // another scheme: the control plane vouches for it
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexWant {
		return errors.New("digest mismatch: the artifact is corrupt")
	}
	return nil
}

func writeFileFrom(dest string, r io.Reader) error {
	tmp := dest + ".koya-partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// uploadOutputs uploads every declared output not reported yet (after a
// restart some may be) and reports each. An error is one the control plane
// refused for good, or the give-up limit.
func (a *attempt) uploadOutputs(ctx context.Context) error {
	names := make([]string, 0, len(a.m.Outputs))
	for n := range a.m.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if a.ob.hasOutput(name) {
			continue
		}
		rel := filepath.Clean(a.m.Outputs[name])
		st, err := statOutput(a.work, rel)
		if err != nil {
			return fmt.Errorf("output %s: %v", name, err)
		}
		var out v1.Output
		err = retry(ctx, a.opts, a.log, "uploading output "+name, func(ctx context.Context) error {
			body, err := openOutput(a.work, rel, st.IsDir())
			if err != nil {
				return err
			}
			defer body.Close()
			out, err = a.cl.putOutput(ctx, name, st.IsDir(), body)
			return err
		})
		if err != nil {
			return fmt.Errorf("output %s: upload failed: %v", name, err)
		}
		if err := a.ob.event(v1.AgentEvent{Type: v1.EventOutput, Name: name, Output: &out}); err != nil {
			return fmt.Errorf("output %s: %v", name, err)
		}
		a.del.poke()
	}
	return nil
}

// Outputs are read through an os.Root of the working directory: a link
// the command left there (or swaps in while the agent reads) cannot make
// the agent, which may be root, read anything outside it.

func statOutput(work, rel string) (fs.FileInfo, error) {
	root, err := os.OpenRoot(work)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Stat(rel)
}

// openOutput is a file's content, or a directory as a tar stream.
func openOutput(work, rel string, dir bool) (io.ReadCloser, error) {
	root, err := os.OpenRoot(work)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if !dir {
		return root.Open(rel)
	}
	sub, err := root.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer sub.Close()
		pw.CloseWithError(writeTar(pw, sub))
	}()
	return pr, nil
}
