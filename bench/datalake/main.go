// Command datalake measures the datalake's metadata search at scale:
// it bulk-loads N files with 5-10 free metadata keys into a store
// (straight into the tables, for speed; kept and reused while N and the
// schema stay the same), then times 2-3-predicate queries (default
// order, Limit 100) and counts through FindFiles/CountFiles, and on
// PostgreSQL the same queries against a naive baseline (one JSONB column
// with a GIN index, jsonb_path_ops and default). bench/datalake.sh runs
// it.
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/koya-dev/koya/internal/datalake/query"
	"github.com/koya-dev/koya/internal/store"
	"github.com/koya-dev/koya/internal/store/postgres"
	"github.com/koya-dev/koya/internal/store/sqlite"
	"github.com/koya-dev/koya/internal/store/storetest"
)

type dber interface{ DB() *sql.DB }

func main() {
	n := flag.Int("n", 1000000, "files to load")
	db := flag.String("db", "sqlite", "sqlite or postgres")
	url := flag.String("url", os.Getenv("KOYA_TEST_POSTGRES"), "PostgreSQL URL (a database of its own: tables are created)")
	dir := flag.String("dir", os.TempDir(), "directory of the SQLite file")
	runs := flag.Int("runs", 200, "runs of each query shape")
	baseline := flag.Bool("baseline", true, "also load and query the JSONB+GIN baseline (PostgreSQL)")
	fresh := flag.Bool("fresh", false, "load again even if an earlier run loaded the same data")
	rebuild := flag.Bool("rebuild", false, "rebuild the metadata bitmaps of reused data (after their format changed)")
	flag.Parse()
	ctx := context.Background()

	// A loaded database is kept and reused while N and the schema (the
	// datalake migrations) are the same: loading 1M files takes minutes.
	stamp := loadStamp(*n, *db)
	reuse := false
	done := func() {} // marks the loaded SQLite file complete
	var s store.Store
	var err error
	if *db == "sqlite" {
		path := filepath.Join(*dir, "lake-bench-"+stamp+".db")
		if _, err := os.Stat(path + ".done"); err == nil && !*fresh {
			reuse = true
		} else {
			for _, suf := range []string{"", "-wal", "-shm", ".done"} {
				os.Remove(path + suf)
			}
		}
		s, err = sqlite.Open(ctx, path)
		done = func() { must(os.WriteFile(path+".done", nil, 0o644)) }
	} else {
		reuse, err = pgStamp(ctx, *url, stamp, *fresh)
		if err != nil {
			log.Fatal(err)
		}
		s, err = postgres.Open(ctx, *url)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	sdb := s.(dber).DB()
	pg := *db == "postgres"
	if reuse {
		log.Printf("reusing the %d files loaded earlier (schema %s)", *n, stamp)
	}
	if reuse && *rebuild {
		start := time.Now()
		must(s.(interface{ RebuildMetaBits(context.Context) error }).RebuildMetaBits(ctx))
		log.Printf("rebuilt the metadata bitmaps in %s", time.Since(start).Round(time.Second))
		if pg {
			must(exec(ctx, sdb, false, `VACUUM ANALYZE meta_bits`))
		}
	}

	if !reuse {
		start := time.Now()
		if err := load(ctx, s, sdb, pg, *n); err != nil {
			log.Fatal(err)
		}
		log.Printf("loaded %d files in %s", *n, time.Since(start).Round(time.Second))
		// The load wrote the tables directly: the bitmaps come from them.
		start = time.Now()
		must(s.(interface{ RebuildMetaBits(context.Context) error }).RebuildMetaBits(ctx))
		log.Printf("built the metadata bitmaps in %s", time.Since(start).Round(time.Second))
		if pg {
			for _, t := range []string{"channels", "files", "file_meta", "meta_keys"} {
				must(exec(ctx, sdb, false, `VACUUM ANALYZE `+t))
			}
		} else {
			must(exec(ctx, sdb, false, `ANALYZE`))
			done()
		}
	}

	fmt.Printf("## %s, %d files\n\n| shape | ours p50 | ours p99 |", *db, *n)
	if pg && *baseline {
		fmt.Printf(" jsonb_path_ops p50 | p99 | jsonb_ops p50 | p99 |")
	}
	fmt.Println()
	if pg && *baseline {
		fmt.Println("|---|---|---|---|---|---|---|")
	} else {
		fmt.Println("|---|---|---|")
	}
	if pg && !reuse {
		if *baseline {
			if err := loadBaseline(ctx, sdb); err != nil {
				log.Fatal(err)
			}
		}
		must(exec(ctx, sdb, false, `CREATE TABLE bench_stamp AS SELECT '`+stamp+`'::text AS stamp`))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, sh := range shapes {
		var ours, path, ops []time.Duration
		for range *runs {
			args := sh.args(r)
			src := fmt.Sprintf(sh.q, args...)
			e, err := query.Parse(src)
			must(err)
			t0 := time.Now()
			if sh.by != "" || sh.count {
				_, err = s.CountFiles(ctx, store.FileQuery{Project: "bench", Channel: "c", Where: e}, sh.by)
			} else {
				_, err = s.FindFiles(ctx, store.FileQuery{Project: "bench", Channel: "c", Where: e, Limit: 100})
			}
			must(err)
			ours = append(ours, time.Since(t0))
			if pg && *baseline {
				for i, tbl := range []string{"lake_jsonb_path", "lake_jsonb_ops"} {
					t0 := time.Now()
					rows, err := sdb.QueryContext(ctx, strings.ReplaceAll(fmt.Sprintf(sh.sql, args...), "$T", tbl))
					must(err)
					for rows.Next() {
					}
					must(rows.Err())
					rows.Close()
					if i == 0 {
						path = append(path, time.Since(t0))
					} else {
						ops = append(ops, time.Since(t0))
					}
				}
			}
			if sh.by != "" && len(ours) >= 20 { // counts: fewer runs
				break
			}
		}
		fmt.Printf("| %s | %s | %s |", sh.name, pct(ours, 50), pct(ours, 99))
		if pg && *baseline {
			fmt.Printf(" %s | %s | %s | %s |", pct(path, 50), pct(path, 99), pct(ops, 50), pct(ops, 99))
		}
		fmt.Println()
	}
	sizes(ctx, sdb, pg, *baseline)
}

type shape struct {
	name  string
	q     string // the query language, with %v for args
	sql   string // the baseline's SQL ($T: its table)
	by    string
	count bool
	args  func(r *rand.Rand) []any
}

var shapes = []shape{
	{name: "label = L and width >= W", q: `label = "%v" and width >= %v`,
		sql:  `SELECT id, path, meta FROM $T WHERE meta @> '{"label":"%v"}' AND (meta->>'width')::float8 >= %v ORDER BY id LIMIT 100`,
		args: func(r *rand.Rand) []any { return []any{label(r), 100 + r.IntN(3900)} }},
	{name: "tags = T and camera.model = M and ok = true", q: `tags = "%v" and camera.model = "%v" and ok = true`,
		sql:  `SELECT id, path, meta FROM $T WHERE meta @> '{"tags":["%v"],"camera":{"model":"%v"},"ok":true}' ORDER BY id LIMIT 100`,
		args: func(r *rand.Rand) []any { return []any{fmt.Sprintf("t%d", r.IntN(30)), fmt.Sprintf("m%d", r.IntN(20))} }},
	{name: "shot_at > D and label in [A, B] and score < S", q: `shot_at > %v and label in ["%v", "%v"] and score < %v`,
		sql: `SELECT id, path, meta FROM $T WHERE (meta->>'shot_at')::timestamptz > '%v' AND (meta @> '{"label":"%v"}' OR meta @> '{"label":"%v"}') AND (meta->>'score')::float8 < %v ORDER BY id LIMIT 100`,
		args: func(r *rand.Rand) []any {
			return []any{time.Date(2025, time.Month(1+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), label(r), label(r), r.Float64()}
		}},
	{name: "rare key x_k = V and width < W", q: `%v = %v and width < %v`,
		sql: `SELECT id, path, meta FROM $T WHERE meta @> '{"%v":%v}' AND (meta->>'width')::float8 < %v ORDER BY id LIMIT 100`,
		args: func(r *rand.Rand) []any {
			return []any{fmt.Sprintf("x%d", r.IntN(200)), r.IntN(10), 100 + r.IntN(3900)}
		}},
	{name: "count --by label", q: ``, by: "label",
		sql:  `SELECT meta->>'label', count(*) FROM $T GROUP BY 1 ORDER BY 2 DESC`,
		args: func(r *rand.Rand) []any { return nil }},
	{name: "count --by camera.model where ok = true", q: `ok = true`, by: "camera.model",
		sql:  `SELECT meta->'camera'->>'model', count(*) FROM $T WHERE meta @> '{"ok":true}' GROUP BY 1 ORDER BY 2 DESC`,
		args: func(r *rand.Rand) []any { return nil }},
}

// label is skewed as storetest.LakeMeta's: a few labels are common,
// most are rare.
func label(r *rand.Rand) string { return fmt.Sprintf("l%d", int(50*r.Float64()*r.Float64())) }

func load(ctx context.Context, s store.Store, db *sql.DB, pg bool, n int) error {
	if _, err := s.PutChannel(ctx, store.Channel{Project: "bench", Name: "c"}); err != nil {
		return err
	}
	var cid int64
	if err := db.QueryRowContext(ctx, rebind(pg, `SELECT cid FROM channels WHERE project = ? AND name = ?`), "bench", "c").Scan(&cid); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	const batch = 2000
	var total int64
	keyFiles := map[string]int64{}
	kids := map[string]int64{}
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var fargs, margs []any
		var frows, mrows []string
		var ids []int64
		for i := lo; i < hi; i++ {
			m := storetest.LakeMeta(r)
			raw, _ := json.Marshal(m)
			fid := int64(i + 1)
			ids = append(ids, fid)
			frows = append(frows, "(?, ?, ?, 'bench', 'c', ?, 'image/png', ?, 'sha256:x', 'ref', ?, 1, ?, ?)")
			var t any = now
			if !pg {
				t = now.UnixMicro()
			}
			size := int64(r.IntN(1 << 20))
			total += size
			fargs = append(fargs, fid, fmt.Sprintf("f-%d", i), cid, fmt.Sprintf("d%d/f%07d.png", i%100, i), size, string(raw), t, t)
			for _, kv := range query.Flatten(m) {
				var kind int
				var num, str, tm any
				switch kv.Kind {
				case query.Null:
					kind, num = 0, 0.0
				case query.Bool:
					kind, num = 1, 0.0
					if kv.Bool {
						num = 1.0
					}
				case query.Number:
					kind, num = 2, kv.Num
				default:
					kind, str = 3, kv.Str
					if kv.HasTime {
						if pg {
							tm = kv.Time
						} else {
							tm = kv.Time.UnixMicro()
						}
					}
				}
				if kv.Pos == 0 {
					keyFiles[kv.Key]++
				}
				kid, ok := kids[kv.Key]
				if !ok {
					kid = int64(len(kids) + 1)
					kids[kv.Key] = kid
				}
				mrows = append(mrows, "(?, ?, ?, ?, ?, ?, ?)")
				margs = append(margs, fid, kid, kv.Pos, kind, num, str, tm)
			}
		}
		if err := insert(ctx, tx, pg, `INSERT INTO files (fid, id, cid, project, channel, path, content_type, size, digest, ref, meta, version, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES `, frows, fargs, 8); err != nil {
			tx.Rollback()
			return err
		}
		if err := insert(ctx, tx, pg, `INSERT INTO file_meta (fid, kid, pos, kind, num, str, tm) VALUES `, mrows, margs, 7); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if hi%100000 == 0 {
			log.Printf("%d files", hi)
		}
	}
	if pg {
		if err := exec(ctx, db, false, `SELECT setval(pg_get_serial_sequence('files', 'fid'), (SELECT max(fid) FROM files))`); err != nil {
			return err
		}
	}
	over := ""
	if pg {
		over = " OVERRIDING SYSTEM VALUE"
	}
	for k, c := range keyFiles {
		if _, err := db.ExecContext(ctx, rebind(pg, `INSERT INTO meta_keys (kid, cid, key, files, vals)`+over+` VALUES (?, ?, ?, ?, ?)`), kids[k], cid, k, c, c); err != nil {
			return err
		}
	}
	if pg {
		if err := exec(ctx, db, false, `SELECT setval(pg_get_serial_sequence('meta_keys', 'kid'), (SELECT max(kid) FROM meta_keys))`); err != nil {
			return err
		}
	}
	_, err := db.ExecContext(ctx, rebind(pg, `UPDATE channels SET files = ?, bytes = ? WHERE cid = ?`), n, total, cid)
	return err
}

// insert writes rows (each with cols arguments) in statements of at most
// 4000 rows.
func insert(ctx context.Context, tx *sql.Tx, pg bool, head string, rows []string, args []any, cols int) error {
	if !pg {
		head = strings.Replace(head, " OVERRIDING SYSTEM VALUE", "", 1)
	}
	per := len(args) / max(1, len(rows))
	for len(rows) > 0 {
		k := min(len(rows), 4000)
		if _, err := tx.ExecContext(ctx, rebind(pg, head+strings.Join(rows[:k], ", ")), args[:k*per]...); err != nil {
			return err
		}
		rows, args = rows[k:], args[k*per:]
	}
	return nil
}

func loadBaseline(ctx context.Context, db *sql.DB) error {
	t0 := time.Now()
	for _, idx := range []struct{ tbl, ops string }{{"lake_jsonb_path", "jsonb_path_ops"}, {"lake_jsonb_ops", "jsonb_ops"}} {
		if err := exec(ctx, db, false, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s;
CREATE TABLE %[1]s (id BIGINT PRIMARY KEY, cid BIGINT NOT NULL, path TEXT COLLATE "C" NOT NULL, meta JSONB NOT NULL);
INSERT INTO %[1]s SELECT fid, cid, path, meta::jsonb FROM files;
CREATE INDEX %[1]s_path ON %[1]s (cid, path);
CREATE INDEX %[1]s_gin ON %[1]s USING GIN (meta %[2]s);
ANALYZE %[1]s`, idx.tbl, idx.ops)); err != nil {
			return err
		}
	}
	log.Printf("baseline loaded in %s", time.Since(t0).Round(time.Second))
	return nil
}

func sizes(ctx context.Context, db *sql.DB, pg, baseline bool) {
	fmt.Println()
	if !pg {
		var pages, size int64
		db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
		db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size)
		fmt.Printf("SQLite file: %.0f MB\n", float64(pages*size)/1e6)
		rows, err := db.QueryContext(ctx, `SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 12`)
		if err != nil {
			fmt.Printf("(no dbstat: %v)\n", err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var b int64
			rows.Scan(&name, &b)
			fmt.Printf("- %s: %.0f MB\n", name, float64(b)/1e6)
		}
		return
	}
	tables := []string{"files", "file_meta", "meta_keys", "meta_bits"}
	if baseline {
		tables = append(tables, "lake_jsonb_path", "lake_jsonb_ops")
	}
	fmt.Println("| table | table MB | index MB |\n|---|---|---|")
	for _, t := range tables {
		var tb, ib int64
		must(db.QueryRowContext(ctx, `SELECT pg_table_size($1), pg_indexes_size($1)`, t).Scan(&tb, &ib))
		fmt.Printf("| %s | %.0f | %.0f |\n", t, float64(tb)/1e6, float64(ib)/1e6)
	}
	rows, err := db.QueryContext(ctx, `SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index
WHERE indrelid::regclass::text IN ('files', 'file_meta', 'lake_jsonb_path', 'lake_jsonb_ops') ORDER BY 1`)
	must(err)
	defer rows.Close()
	for rows.Next() {
		var name string
		var b int64
		rows.Scan(&name, &b)
		fmt.Printf("- %s: %.0f MB\n", name, float64(b)/1e6)
	}
}

// loadStamp names the data a run loads: N and a digest of the datalake
// migrations (run from the repository's root, as bench/datalake.sh does).
func loadStamp(n int, db string) string {
	b, err := os.ReadFile(filepath.Join("internal/store", db, "migrations/0007_datalake.sql"))
	must(err)
	return fmt.Sprintf("%d-%x", n, sha256.Sum256(b))[:20]
}

// pgStamp says whether the database at url holds the data stamp names;
// if not (or fresh), it empties the database for a new load.
func pgStamp(ctx context.Context, url, stamp string, fresh bool) (bool, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var got string
	err = db.QueryRowContext(ctx, `SELECT stamp FROM bench_stamp`).Scan(&got)
	if err == nil && got == stamp && !fresh {
		return true, nil
	}
	_, err = db.ExecContext(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`)
	return false, err
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[min(len(s)-1, len(s)*p/100)]
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func exec(ctx context.Context, db *sql.DB, _ bool, q string) error {
	_, err := db.ExecContext(ctx, q)
	return err
}

func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
