package v1

import (
	"fmt"
	"net/url"
	"strings"
)

// DatalakeScheme starts a datalake reference in a workflow:
//
//	datalake://<project>/<channel>/<path>                a file
//	datalake://<project>/<channel>?query=<q>[&sort=<s>]   the files a query finds
//
// A file is an input of one file; a query is an input of a directory of
// files (placed by path) or, as a foreach, one item per file.
const DatalakeScheme = "datalake://"

// DatalakeURI is a parsed datalake reference.
type DatalakeURI struct {
	Project string
	Channel string
	Path    string // a file; empty for a query
	Query   string // a query (possibly empty: every file of the channel)
	Sort    string
	IsQuery bool
}

func (u DatalakeURI) String() string {
	if !u.IsQuery {
		return DatalakeScheme + u.Project + "/" + u.Channel + "/" + u.Path
	}
	v := url.Values{}
	v.Set("query", u.Query)
	if u.Sort != "" {
		v.Set("sort", u.Sort)
	}
	return DatalakeScheme + u.Project + "/" + u.Channel + "?" + v.Encode()
}

// ParseDatalakeURI parses a rendered datalake reference. It checks the
// shape only; the datalake checks names and queries when it resolves one.
func ParseDatalakeURI(s string) (DatalakeURI, error) {
	rest, ok := strings.CutPrefix(s, DatalakeScheme)
	if !ok {
		return DatalakeURI{}, fmt.Errorf("%q is not a datalake reference (datalake://<project>/<channel>/<path> or datalake://<project>/<channel>?query=...)", s)
	}
	var u DatalakeURI
	rest, rawQuery, hasQuery := strings.Cut(rest, "?")
	project, rest, _ := strings.Cut(rest, "/")
	channel, p, _ := strings.Cut(rest, "/")
	u.Project, u.Channel, u.Path = project, channel, p
	if u.Project == "" || u.Channel == "" {
		return DatalakeURI{}, fmt.Errorf("%q names no project and channel: write datalake://<project>/<channel>/<path>", s)
	}
	if hasQuery {
		if u.Path != "" {
			return DatalakeURI{}, fmt.Errorf("%q has both a path and a query: a query selects files of the whole channel (filter by path in it: path startswith \"a/\")", s)
		}
		vals, err := url.ParseQuery(rawQuery)
		if err != nil {
			return DatalakeURI{}, fmt.Errorf("%q: the part after ? is not a URL query: %v", s, err)
		}
		for k := range vals {
			if k != "query" && k != "sort" {
				return DatalakeURI{}, fmt.Errorf("%q: unknown parameter %q (known: query, sort)", s, k)
			}
		}
		u.IsQuery, u.Query, u.Sort = true, vals.Get("query"), vals.Get("sort")
		return u, nil
	}
	if u.Path == "" || strings.HasSuffix(u.Path, "/") {
		return DatalakeURI{}, fmt.Errorf("%q names no file: write datalake://<project>/<channel>/<path>, or ?query= for a set of files", s)
	}
	return u, nil
}
