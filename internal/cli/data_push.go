package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake"
	"github.com/spf13/cobra"
)

// pushFile is one local file to upload.
type pushFile struct {
	local, remote string
	size          int64
	meta          json.RawMessage
}

type pushOpts struct {
	channel, prefix, meta, metaFile, sidecar string
	jobs                                     int
	bigAbove, chunk                          int64
}

func (a *app) dataPushCmd() *cobra.Command {
	var o pushOpts
	cmd := a.dataRead("push FILE|DIR...", "Upload files or directories to a channel", rangeArgs(1, -1, "files or directories"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			return a.push(cmd.Context(), cl, project, argv, o)
		})
	cmd.Long = `Uploads files, and directories with everything under them, to a channel.
A file's path in the channel is --prefix plus its path under the directory
given (or its name, for a file given itself).

Metadata comes from --meta or --meta-file (for every file) merged with a
sidecar: img001.jpg.json next to img001.jpg holds that file's metadata and
is not uploaded itself (--sidecar '' turns this off).

Directories go up -j files at a time. Files above --resumable-above go up
through an upload session, which the server stores in parts as they arrive:
if a push is cut, running it again resumes after the last whole part.`
	channelFlag(cmd, &o.channel, true)
	f := cmd.Flags()
	f.StringVar(&o.prefix, "prefix", "", "path prefix in the channel (e.g. 2026/01/)")
	f.StringVar(&o.meta, "meta", "", "metadata of every file, a JSON object")
	f.StringVar(&o.metaFile, "meta-file", "", "read --meta from this file")
	f.StringVar(&o.sidecar, "sidecar", ".json", "suffix of sidecar metadata files ('' for none)")
	f.IntVarP(&o.jobs, "jobs", "j", 4, "files uploaded at once")
	f.Int64Var(&o.bigAbove, "resumable-above", 64<<20, "bytes above which a file goes up in resumable chunks")
	f.Int64Var(&o.chunk, "chunk-size", 0, "most bytes per request of a resumable upload (0: the whole file in one request, which the server stores in parts; set it under a proxy that limits request bodies)")
	return cmd
}

func (a *app) push(ctx context.Context, cl *client.Client, project string, argv []string, o pushOpts) error {
	if o.jobs < 1 {
		return usagef("-j %d: at least 1", o.jobs)
	}
	base, err := baseMeta(o)
	if err != nil {
		return err
	}
	// A missing channel (or no right to it) is said once, not per file.
	if _, err := cl.Channel(ctx, project, o.channel); errs.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "%s (create it with 'koya data channel create %s')", errs.Public(err).Message, o.channel)
	} else if err != nil {
		return err
	}
	files, err := collect(argv, o, base)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("nothing to push in %s", strings.Join(argv, " "))
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	prog := newPushProgress(a.stdout, isTerminal(a.stdout), len(files), total)
	defer prog.stop()

	work := make(chan pushFile)
	var (
		mu    sync.Mutex
		fails []string
		wg    sync.WaitGroup
	)
	for range min(o.jobs, len(files)) {
		wg.Go(func() {
			for f := range work {
				df, err := a.pushOne(ctx, cl, project, f, o, prog.add)
				prog.done(f, df, err)
				if err != nil {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%s: %v", f.local, message(err)))
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		work <- f
	}
	close(work)
	wg.Wait()
	prog.stop()
	if len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintln(a.stderr, "error: "+f)
		}
		return exitError{ExitFailed}
	}
	return ctx.Err()
}

// baseMeta is --meta or --meta-file.
func baseMeta(o pushOpts) (json.RawMessage, error) {
	raw := o.meta
	if o.metaFile != "" {
		if raw != "" {
			return nil, usagef("give --meta or --meta-file, not both")
		}
		b, err := os.ReadFile(o.metaFile)
		if err != nil {
			return nil, usagef("--meta-file: %v", err)
		}
		raw = string(b)
	}
	if raw == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, usagef("the metadata is not a JSON object: %v", err)
	}
	return json.RawMessage(raw), nil
}

// collect lists the files to push, with their metadata.
func collect(argv []string, o pushOpts, base json.RawMessage) ([]pushFile, error) {
	var out []pushFile
	add := func(local, rel string, size int64) error {
		f := pushFile{local: local, remote: o.prefix + rel, size: size, meta: base}
		if err := datalake.ValidatePath(f.remote); err != nil {
			return err
		}
		if o.sidecar != "" {
			b, err := os.ReadFile(local + o.sidecar)
			if err == nil {
				if f.meta, err = mergeMeta(base, b); err != nil {
					return errs.E(errs.Invalid, "sidecar %s: %v", local+o.sidecar, err)
				}
			} else if !os.IsNotExist(err) {
				return err
			}
		}
		out = append(out, f)
		return nil
	}
	// isSidecar: a sidecar file is metadata, not data.
	isSidecar := func(p string) bool {
		if o.sidecar == "" || !strings.HasSuffix(p, o.sidecar) {
			return false
		}
		_, err := os.Stat(strings.TrimSuffix(p, o.sidecar))
		return err == nil
	}
	for _, arg := range argv {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if !st.IsDir() {
			if err := add(arg, filepath.Base(arg), st.Size()); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() || isSidecar(p) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(arg, p)
			if err != nil {
				return err
			}
			return add(p, filepath.ToSlash(rel), info.Size())
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergeMeta merges a sidecar's object over the base metadata.
func mergeMeta(base json.RawMessage, sidecar []byte) (json.RawMessage, error) {
	var b, s any = map[string]any{}, nil
	if len(base) > 0 {
		if err := json.Unmarshal(base, &b); err != nil {
			return nil, err
		}
	}
	if err := json.Unmarshal(sidecar, &s); err != nil {
		return nil, err
	}
	if _, ok := s.(map[string]any); !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return json.Marshal(datalake.MergePatch(b, s))
}

// pushOne uploads one file: in one request, or through a resumable upload
// session for a big file (whose id is kept in ~/.koya/uploads so that a
// later push of the same file resumes).
func (a *app) pushOne(ctx context.Context, cl *client.Client, project string, f pushFile, o pushOpts, progress func(int64)) (client.DataFile, error) {
	fh, err := os.Open(f.local)
	if err != nil {
		return client.DataFile{}, err
	}
	defer fh.Close()
	ct := mime.TypeByExtension(path.Ext(f.local))
	put := client.PutOptions{ContentType: ct, Meta: f.meta, Progress: progress}
	if f.size <= o.bigAbove {
		return cl.PutFile(ctx, project, o.channel, f.remote, fh, put)
	}
	st, _ := fh.Stat()
	state := resumeFile(cl.Server(), project, o.channel, f, st)
	prev, _ := os.ReadFile(state)
	df, err := cl.PutFileResumable(ctx, project, o.channel, f.remote, fh, f.size, client.ResumableOptions{
		PutOptions: put, ChunkSize: o.chunk, Resume: strings.TrimSpace(string(prev)),
		OnSession: func(id string) {
			if state != "" && os.MkdirAll(filepath.Dir(state), 0o700) == nil {
				_ = os.WriteFile(state, []byte(id), 0o600)
			}
		},
	})
	if err == nil && state != "" {
		_ = os.Remove(state)
	}
	return df, err
}

// resumeFile is where the session of a big file's upload is remembered:
// one file per server, project, channel, path, local file, size and time.
func resumeFile(server, project, channel string, f pushFile, st os.FileInfo) string {
	cfg, err := configPath()
	if err != nil || st == nil {
		return ""
	}
	abs, _ := filepath.Abs(f.local)
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d", server, project, channel, f.remote, abs, st.Size(), st.ModTime().UnixNano()))
	return filepath.Join(filepath.Dir(cfg), "uploads", hex.EncodeToString(h[:16]))
}

// bytesOf is n for people.
func bytesOf(n int64) string { return v1.FormatBytes(n) }
