package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/store"
)

// Placeholders until the datalake tables land (issue 4).

func notYet() error { return errs.E(errs.Internal, "the datalake is not implemented yet") }

func (q *querier) PutChannel(ctx context.Context, c store.Channel) (store.Channel, error) {
	return store.Channel{}, notYet()
}
func (q *querier) GetChannel(ctx context.Context, project, name string) (store.Channel, error) {
	return store.Channel{}, notYet()
}
func (q *querier) ListChannels(ctx context.Context, project string) ([]store.Channel, error) {
	return nil, notYet()
}
func (q *querier) DeleteChannel(ctx context.Context, project, name string) error { return notYet() }
func (q *querier) PutFile(ctx context.Context, f store.File) (store.File, *store.File, error) {
	return store.File{}, nil, notYet()
}
func (q *querier) GetFile(ctx context.Context, project, channel, path string) (store.File, error) {
	return store.File{}, notYet()
}
func (q *querier) GetFileByID(ctx context.Context, project, id string) (store.File, error) {
	return store.File{}, notYet()
}
func (q *querier) SetFileMeta(ctx context.Context, project, channel, path string, meta json.RawMessage, expectVersion int64) (store.File, error) {
	return store.File{}, notYet()
}
func (q *querier) DeleteFile(ctx context.Context, project, channel, path string) (store.File, error) {
	return store.File{}, notYet()
}
func (q *querier) FindFiles(ctx context.Context, fq store.FileQuery) (store.FilePage, error) {
	return store.FilePage{}, notYet()
}
func (q *querier) CountFiles(ctx context.Context, fq store.FileQuery, by string) ([]store.GroupCount, error) {
	return nil, notYet()
}
func (q *querier) ClaimDataEvents(ctx context.Context, limit int) ([]store.DataEvent, error) {
	return nil, notYet()
}
func (q *querier) MarkDataEventsDispatched(ctx context.Context, seqs []int64) error { return notYet() }
func (q *querier) ListDataEvents(ctx context.Context, project, channel string, before int64, limit int) ([]store.DataEvent, error) {
	return nil, notYet()
}
