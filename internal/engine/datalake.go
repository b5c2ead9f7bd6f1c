package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/expr"
	"github.com/koya-dev/koya/internal/store"
)

// Datalake references in workflows (see v1.DatalakeScheme) are resolved
// in two places, both outside the pure planner:
//   - a foreach query, when its step is about to expand: loadSnapshot finds
//     the files (Snapshot.Files) and expandStep makes one item per file;
//   - an input, when its task is inserted: insertTasks pins the file (its
//     object, digest and size) into the manifest, so the task reads the
//     version that existed when it was created and the step cache keys on
//     the content.

// MaxDatalakeFiles bounds the files one reference may select: a query
// that finds more fails the step instead of making a run of millions.
const MaxDatalakeFiles = 100_000

// FileSet is what a datalake query reference selected.
type FileSet struct {
	Files []store.File
	Err   string // why the reference could not be resolved
}

// isDatalakeRef says whether an input or foreach is a datalake reference
// (written out, or "{{ item.uri }}" of a datalake foreach).
func isDatalakeRef(ref string) bool {
	ref = strings.TrimSpace(ref)
	return strings.HasPrefix(ref, v1.DatalakeScheme) || (strings.HasPrefix(ref, "{{") && !inputRef.MatchString(ref))
}

// datalakeForeach is the rendered reference of a datalake foreach, or ""
// when the step's foreach is something else.
func datalakeForeach(def *v1.Step, vars expr.Vars) (string, error) {
	f, ok := def.Foreach.(string)
	if !ok || !strings.HasPrefix(strings.TrimSpace(f), v1.DatalakeScheme) {
		return "", nil
	}
	return expr.Render(strings.TrimSpace(f), vars)
}

// loadFiles finds the files a reference selects in the run's project.
// The user's mistakes (no such file, a bad query) come back in the set, to
// fail the step with; a database that is down is an error, and the pass
// is tried again.
func loadFiles(ctx context.Context, q store.Querier, project, ref string) (FileSet, error) {
	files, err := findFiles(ctx, q, project, ref)
	switch {
	case err == nil:
		return FileSet{Files: files}, nil
	case isTransient(err):
		return FileSet{}, err
	}
	return FileSet{Err: errs.Public(err).Error()}, nil
}

// isTransient says whether err is the system's fault rather than the
// reference's.
func isTransient(err error) bool {
	c := errs.CodeOf(err)
	return c == errs.Internal || c == errs.Unavailable
}

func findFiles(ctx context.Context, q store.Querier, project, ref string) ([]store.File, error) {
	u, err := parseRef(project, ref)
	if err != nil {
		return nil, err
	}
	if !u.IsQuery {
		f, err := q.GetFile(ctx, project, u.Channel, u.Path)
		if err != nil {
			return nil, err
		}
		return []store.File{f}, nil
	}
	fq := store.FileQuery{Project: project, Channel: u.Channel, Limit: 1000}
	if strings.TrimSpace(u.Query) != "" {
		if fq.Where, err = query.Parse(u.Query); err != nil {
			return nil, err
		}
	}
	if u.Sort != "" {
		if fq.Sort, err = query.ParseSort(u.Sort); err != nil {
			return nil, err
		}
	}
	if _, err := q.GetChannel(ctx, project, u.Channel); err != nil {
		return nil, err
	}
	var files []store.File
	for {
		page, err := q.FindFiles(ctx, fq)
		if err != nil {
			return nil, err
		}
		files = append(files, page.Files...)
		if len(files) > MaxDatalakeFiles {
			return nil, errs.E(errs.TooLarge, "%s selects more than %d files: narrow the query", ref, MaxDatalakeFiles)
		}
		if page.Next == "" {
			return files, nil
		}
		fq.After = page.Next
	}
}

// parseRef parses a rendered reference and keeps it inside the run's
// project: a run reads its own project's data only.
func parseRef(project, ref string) (v1.DatalakeURI, error) {
	u, err := v1.ParseDatalakeURI(strings.TrimSpace(ref))
	if err != nil {
		return u, errs.E(errs.Invalid, "%v", err)
	}
	if u.Project != project {
		return u, errs.E(errs.Forbidden, "%s names project %q: a run reads the datalake of its own project (%q) only", ref, u.Project, project)
	}
	return u, nil
}

// fileItems makes one foreach item per file: what templates see as item.
func fileItems(files []store.File) ([]any, error) {
	items := make([]any, len(files))
	for i, f := range files {
		raw, err := json.Marshal(fileItem(f))
		if err != nil {
			return nil, err
		}
		var v any // as JSON decodes it, like every other item
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

func fileItem(f store.File) map[string]any {
	meta := json.RawMessage(f.Meta)
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	return map[string]any{
		"uri":         v1.DatalakeURI{Project: f.Project, Channel: f.Channel, Path: f.Path}.String(),
		"id":          f.ID,
		"channel":     f.Channel,
		"path":        f.Path,
		"name":        path.Base(f.Path),
		"size":        f.Size,
		"digest":      f.Digest,
		"contentType": f.ContentType,
		"version":     f.Version,
		"meta":        meta,
		"created":     f.CreatedAt.UTC().Format(time.RFC3339Nano),
		"updated":     f.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
}

// pinnedFiles memoises findFiles over the new tasks of one transaction:
// the items of a fan-out that read the same reference read it once (and
// all see the same files).
type pinnedFiles map[[2]string]pinned

type pinned struct {
	files []store.File
	err   error
}

func (p pinnedFiles) find(ctx context.Context, q store.Querier, project, ref string) ([]store.File, error) {
	k := [2]string{project, ref}
	if r, ok := p[k]; ok {
		return r.files, r.err
	}
	files, err := findFiles(ctx, q, project, ref)
	if !isTransient(err) {
		p[k] = pinned{files, err}
	}
	return files, err
}

// pinInputs resolves the datalake inputs of a new task into artifacts.
// A reference that does not resolve fails the task with the reason.
func pinInputs(ctx context.Context, q store.Querier, pins pinnedFiles, t *store.Task) error {
	pinned := false
	for i := range t.Manifest.Inputs {
		in := &t.Manifest.Inputs[i]
		if in.Datalake == "" || in.Artifacts != nil {
			continue
		}
		files, err := pins.find(ctx, q, t.Manifest.Project, in.Datalake)
		if err != nil {
			if isTransient(err) {
				return err
			}
			return inputFailure{fmt.Sprintf("input %s: %s", in.Name, errs.Public(err).Message)}
		}
		u, _ := v1.ParseDatalakeURI(strings.TrimSpace(in.Datalake))
		in.Many = u.IsQuery
		in.Artifacts = make([]v1.Output, len(files))
		for j, f := range files {
			in.Artifacts[j] = v1.Output{Ref: f.Ref, Digest: f.Digest, Size: f.Size}
			if in.Many {
				in.Names = append(in.Names, f.Path)
			}
		}
		pinned = true
	}
	if pinned && t.CacheKey != "" {
		t.CacheKey = cacheKey(t.Manifest)
	}
	return nil
}

// inputFailure marks a task whose datalake input did not resolve.
type inputFailure struct{ msg string }

func (f inputFailure) Error() string { return f.msg }
