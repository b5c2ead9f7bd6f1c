package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/koya-dev/koya/api/v1"
	"github.com/koya-dev/koya/client"
	"github.com/spf13/cobra"
)

// dataCmd is `koya data`: the datalake's channels and files.
func (a *app) dataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Store raw data in a project's datalake: channels of files with JSON metadata",
		Long: `Keep raw data (camera images, logs, exports) in channels of a project, tag
each file with free JSON metadata, and search and count by it:

  koya data channel create raw
  koya data push ./images --channel raw --meta '{"camera":"front"}'
  koya data find 'label = "cat" and width >= 640'
  koya data count --by label
  koya data pull --query 'label = "cat"' --channel raw ./cats`,
		Args: args(0, "a subcommand"),
	}
	cmd.AddCommand(a.dataChannelCmd(), a.dataPushCmd(), a.dataPullCmd(), a.dataLsCmd(), a.dataRmCmd(),
		a.dataMetaCmd(), a.dataFindCmd(), a.dataCountCmd())
	return cmd
}

// dataRead is readCmd with its own positional-argument rule.
func (a *app) dataRead(use, short string, pos cobra.PositionalArgs,
	run func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error) *cobra.Command {
	cmd, _ := a.readCmd(use, short, 0, "", true, run)
	cmd.Args = pos
	return cmd
}

func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		if len(got) < lo || (hi >= 0 && len(got) > hi) {
			return usagef("%s takes %s (see 'koya %s --help')", cmd.CommandPath(), names, cmd.Name())
		}
		return nil
	}
}

func (a *app) dataChannelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "channel", Short: "Manage datalake channels", Args: args(0, "a subcommand: create, ls or rm")}
	var description string
	create := a.dataRead("create NAME", "Create a channel (or change its description)", args(1, "a channel name"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			c, err := cl.PutChannel(cmd.Context(), project, argv[0], description)
			if err != nil {
				return err
			}
			return out.print(a.stdout, c, func(t *table) { channelRows(t, []client.Channel{c}) })
		})
	create.Flags().StringVar(&description, "description", "", "what the channel holds")
	ls := a.dataRead("ls", "List the project's channels", args(0, "no arguments"),
		func(cmd *cobra.Command, cl *client.Client, project string, _ []string, out *format) error {
			cs, err := cl.Channels(cmd.Context(), project)
			if err != nil {
				return err
			}
			return out.print(a.stdout, cs, func(t *table) { channelRows(t, cs) })
		})
	ls.Aliases = []string{"list"}
	rm := a.dataRead("rm NAME", "Delete an empty channel", args(1, "a channel name"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			if err := cl.DeleteChannel(cmd.Context(), project, argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "channel %s deleted\n", argv[0])
			return nil
		})
	cmd.AddCommand(create, ls, rm)
	return cmd
}

func channelRows(t *table, cs []client.Channel) {
	now := time.Now()
	t.row("NAME", "FILES", "SIZE", "DESCRIPTION", "AGE")
	for _, c := range cs {
		t.row(c.Name, c.Files, v1.FormatBytes(c.Bytes), c.Description, age(c.CreatedAt, now))
	}
}

// channelFlag adds --channel/-c.
func channelFlag(cmd *cobra.Command, v *string, required bool) {
	cmd.Flags().StringVarP(v, "channel", "c", "", "the channel")
	if required {
		_ = cmd.MarkFlagRequired("channel")
	}
}

func (a *app) dataLsCmd() *cobra.Command {
	var channel string
	var limit int
	cmd := a.dataRead("ls [PREFIX]", "List a channel's files, by path", rangeArgs(0, 1, "at most a path prefix"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			q := ""
			if len(argv) == 1 && argv[0] != "" {
				q = "path startswith " + quoteQuery(argv[0])
			}
			files, err := findAll(cmd, cl, project, client.FindOptions{Query: q, Channel: channel, Sort: "path"}, limit)
			if err != nil {
				return err
			}
			return out.print(a.stdout, files, func(t *table) { fileRows(t, files, nil) })
		})
	channelFlag(cmd, &channel, true)
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many files (default: all)")
	return cmd
}

// quoteQuery writes s as a string literal of the query language.
func quoteQuery(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// findAll pages through a search, up to limit files (0: all).
func findAll(cmd *cobra.Command, cl *client.Client, project string, o client.FindOptions, limit int) ([]client.DataFile, error) {
	files := []client.DataFile{}
	for {
		o.Limit = 1000
		if limit > 0 {
			o.Limit = min(1000, limit-len(files))
		}
		page, err := cl.FindFiles(cmd.Context(), project, o)
		if err != nil {
			return nil, err
		}
		files = append(files, page.Files...)
		if page.Next == "" || (limit > 0 && len(files) >= limit) {
			return files, nil
		}
		o.After = page.Next
	}
}

// fileRows is the file table, with the metadata columns asked for.
func fileRows(t *table, files []client.DataFile, columns []string) {
	now := time.Now()
	head := []any{"CHANNEL", "PATH", "SIZE", "UPDATED"}
	for _, c := range columns {
		head = append(head, strings.ToUpper(c))
	}
	t.row(head...)
	for _, f := range files {
		row := []any{f.Channel, f.Path, v1.FormatBytes(f.Size), age(f.UpdatedAt, now)}
		if len(columns) > 0 {
			var m map[string]any
			_ = json.Unmarshal(f.Meta, &m)
			for _, c := range columns {
				row = append(row, metaCell(lookup(m, c)))
			}
		}
		t.row(row...)
	}
}

// lookup follows a dotted key into nested objects.
func lookup(m map[string]any, key string) any {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func metaCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (a *app) dataRmCmd() *cobra.Command {
	var channel string
	cmd := a.dataRead("rm PATH...", "Delete files", rangeArgs(1, -1, "one or more file paths"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, _ *format) error {
			for _, p := range argv {
				if err := cl.DeleteFile(cmd.Context(), project, channel, p); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted %s/%s\n", channel, p)
			}
			return nil
		})
	channelFlag(cmd, &channel, true)
	return cmd
}

func (a *app) dataMetaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "meta", Short: "Read or change a file's metadata", Args: args(0, "a subcommand: get, set or patch")}
	var channel string
	var version int64
	get := a.dataRead("get PATH", "Print a file's metadata", args(1, "a file path"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			f, err := cl.FileMeta(cmd.Context(), project, channel, argv[0])
			if err != nil {
				return err
			}
			if out.value == "table" {
				return printMeta(a, f.Meta)
			}
			return out.print(a.stdout, f, nil)
		})
	channelFlag(get, &channel, true)
	change := func(use, short string, patch bool) *cobra.Command {
		c := a.dataRead(use, short, args(2, "a file path and a JSON object"),
			func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
				if !json.Valid([]byte(argv[1])) {
					return usagef("%q is not JSON", argv[1])
				}
				var f client.DataFile
				var err error
				if patch {
					f, err = cl.PatchFileMeta(cmd.Context(), project, channel, argv[0], json.RawMessage(argv[1]), version)
				} else {
					f, err = cl.SetFileMeta(cmd.Context(), project, channel, argv[0], json.RawMessage(argv[1]), version)
				}
				if err != nil {
					return err
				}
				if out.value == "table" {
					return printMeta(a, f.Meta)
				}
				return out.print(a.stdout, f, nil)
			})
		channelFlag(c, &channel, true)
		c.Flags().Int64Var(&version, "version", 0, "fail unless the file is at this version")
		return c
	}
	cmd.AddCommand(get,
		change("set PATH JSON", "Replace a file's metadata", false),
		change("patch PATH JSON", "Merge a JSON merge patch into a file's metadata (null deletes a key)", true))
	return cmd
}

func printMeta(a *app, meta json.RawMessage) error {
	var v any
	if err := json.Unmarshal(meta, &v); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	_, err := fmt.Fprintln(a.stdout, string(b))
	return err
}

func (a *app) dataFindCmd() *cobra.Command {
	var (
		channel, sortBy, columns string
		limit                    int
	)
	cmd := a.dataRead("find [QUERY]", "Search files by metadata", rangeArgs(0, 1, "at most a query"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			o := client.FindOptions{Channel: channel, Sort: sortBy}
			if len(argv) == 1 {
				o.Query = argv[0]
			}
			files, err := findAll(cmd, cl, project, o, limit)
			if err != nil {
				return err
			}
			var cols []string
			if columns != "" {
				cols = strings.Split(columns, ",")
			} else {
				cols = commonKeys(files, 4)
			}
			return out.print(a.stdout, files, func(t *table) { fileRows(t, files, cols) })
		})
	cmd.Long = `Searches the project's files with the datalake query language, e.g.

  koya data find 'label = "cat" and width >= 640 and created > 2026-01-01'
  koya data find 'tags contains "night"' --sort 'size desc' --limit 20

Names are metadata keys (dots reach into objects: camera.model); path, size,
content_type, digest, created and updated are the files' own fields.`
	channelFlag(cmd, &channel, false)
	cmd.Flags().StringVar(&sortBy, "sort", "", `sort keys, e.g. "created desc, label" (default: upload order, oldest first — the fastest)`)
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many files (0: all)")
	cmd.Flags().StringVar(&columns, "columns", "", "metadata keys to show as columns (default: the most common keys)")
	return cmd
}

// commonKeys are the n top-level metadata keys most files have.
func commonKeys(files []client.DataFile, n int) []string {
	count := map[string]int{}
	for _, f := range files {
		var m map[string]any
		_ = json.Unmarshal(f.Meta, &m)
		for k := range m {
			count[k]++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[:min(n, len(keys))]
}

func (a *app) dataCountCmd() *cobra.Command {
	var channel, by string
	cmd := a.dataRead("count [QUERY]", "Count files, or group them by a field", rangeArgs(0, 1, "at most a query"),
		func(cmd *cobra.Command, cl *client.Client, project string, argv []string, out *format) error {
			o := client.FindOptions{Channel: channel}
			if len(argv) == 1 {
				o.Query = argv[0]
			}
			counts, err := cl.CountFiles(cmd.Context(), project, o, by)
			if err != nil {
				return err
			}
			return out.print(a.stdout, counts, func(t *table) { countRows(t, by, counts) })
		})
	channelFlag(cmd, &channel, false)
	cmd.Flags().StringVar(&by, "by", "", "group by this field (a metadata key or a built-in)")
	return cmd
}

// countRows is the count table, with a bar per group.
func countRows(t *table, by string, counts []client.DataCount) {
	if by == "" {
		t.row("COUNT")
		for _, c := range counts {
			t.row(c.Count)
		}
		return
	}
	var most, total int64
	for _, c := range counts {
		most = max(most, c.Count)
		total += c.Count
	}
	t.row(strings.ToUpper(by), "COUNT", "SHARE", "CHART")
	for _, c := range counts {
		label := metaCell(c.Value)
		if c.Value == nil {
			label = "(none)"
		}
		bar := ""
		if most > 0 {
			bar = strings.Repeat("█", int(max(1, c.Count*30/most)))
		}
		t.row(label, c.Count, fmt.Sprintf("%.1f%%", float64(c.Count)*100/float64(max(total, 1))), bar)
	}
}
