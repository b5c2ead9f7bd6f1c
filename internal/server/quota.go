package server

import (
	"context"
	"math"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/errs"
)

// storageRoom is the project's storage quota (0: none) and how many more
// bytes it may store (MaxInt64 without a quota). Uses count every upload,
// a content stored twice included, so the count errs on the full side.
func (s *Server) storageRoom(ctx context.Context, project string) (limit, room int64, err error) {
	p, err := s.store.GetProject(ctx, project)
	if err != nil || p.Spec.Quota == nil || p.Spec.Quota.Storage == "" {
		return 0, math.MaxInt64, err
	}
	if limit, err = v1.MemoryBytes(p.Spec.Quota.Storage); err != nil || limit <= 0 {
		return 0, math.MaxInt64, err
	}
	used, err := s.store.StorageUsed(ctx, project)
	if err != nil {
		return 0, 0, err
	}
	if used >= limit {
		return limit, 0, s.storageFull(ctx, project, limit)
	}
	return limit, limit - used, nil
}

// storageFull is the quota_exceeded error naming the quota and its use.
func (s *Server) storageFull(ctx context.Context, project string, limit int64) error {
	used, _ := s.store.StorageUsed(ctx, project)
	return errs.E(errs.QuotaExceeded, "the storage quota of project %s is full: %s stored of %s (spec.quota.storage); this output does not fit",
		project, v1.FormatBytes(used), v1.FormatBytes(limit))
}
