package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
)

// format is the -o flag of read commands.
type format struct{ value string }

func (f *format) flag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.value, "output", "o", "table", "output format: table, json or yaml")
}

func (f *format) check() error {
	switch f.value {
	case "table", "json", "yaml":
		return nil
	}
	return usagef("-o %q: want table, json or yaml", f.value)
}

// print writes v as JSON or YAML, or calls table for the table form.
func (f *format) print(w io.Writer, v any, table func(t *table)) error {
	switch f.value {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so that YAML has the same field names and shapes.
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	t := newTable(w)
	table(t)
	return t.flush()
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
}

// row writes one line of cells; empty cells show as "-".
func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		v := fmt.Sprint(c)
		if v == "" {
			v = "-"
		}
		s[i] = strings.ReplaceAll(v, "\t", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// age is how long ago t was, in the largest unit that fits (3m, 2h, 5d).
func age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return short(now.Sub(t))
}

// short prints a duration like ages: 45s, 3m, 2h, 5d (2m30s under ten minutes).
func short(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 10*time.Minute:
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// span is the duration from start to end (or to now while running).
func span(start, end *time.Time, now time.Time) string {
	if start == nil {
		return "-"
	}
	e := now
	if end != nil {
		e = *end
	}
	return short(e.Sub(*start))
}
