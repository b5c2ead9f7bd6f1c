package query

import "github.com/koya-dev/koya/errs"

// Parse parses a query. Errors are errs.Invalid and say where:
// "query:1:15: expected a value after >=, found end of query".
func Parse(src string) (Expr, error) {
	return nil, errs.E(errs.Internal, "query: not implemented yet")
}

// ParseSort parses a sort list: "created desc, label" (asc by default).
func ParseSort(src string) ([]Sort, error) {
	return nil, errs.E(errs.Internal, "query: not implemented yet")
}
