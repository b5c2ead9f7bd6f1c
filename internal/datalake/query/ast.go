// Package query is the datalake's query language: a small boolean language
// over a file's free JSON metadata and its built-in fields, e.g.
//
//	label = "cat" and width >= 640 and tags contains "night" and created > 2026-01-01
//
// Parse turns text into an Expr (errors point at the position), Match
// evaluates an Expr against one file in memory (trigger filters), and the
// stores compile an Expr to SQL (internal/store/sqlstore). One conformance
// suite (storetest) checks that SQL and Match agree.
//
// Names: a bare name is a metadata key; dots reach into nested objects
// ("camera.model"). The built-in fields are path, size, content_type,
// digest, created and updated; a metadata key that has a built-in's name
// is written meta.<name> (meta.size).
package query

import "time"

// Expr is a parsed query.
type Expr interface {
	// Pos is the byte offset of the expression in the source (0-based).
	Pos() int
	// String renders the expression back in the language (canonical form).
	String() string
}

// And, Or: both sides / either side.
type And struct {
	L, R Expr
	At   int
}
type Or struct {
	L, R Expr
	At   int
}

// Not negates X.
type Not struct {
	X  Expr
	At int
}

// Op is a comparison operator.
type Op string

const (
	Eq       Op = "="
	Ne       Op = "!="
	Lt       Op = "<"
	Le       Op = "<="
	Gt       Op = ">"
	Ge       Op = ">="
	Contains Op = "contains" // an array holds Value, or a string contains it
	In       Op = "in"       // Value is a List: the field equals one of them
	Exists   Op = "exists"   // the key is present (Value unused)
	Prefix   Op = "startswith"
)

// Compare is one predicate: Field Op Value.
type Compare struct {
	Field Field
	Op    Op
	Value Value
	At    int
}

// Field names what a predicate looks at.
type Field struct {
	// Name is the metadata key path ("camera.model") or the built-in's
	// name ("created").
	Name    string
	Builtin bool
}

// Builtins are the fields every file has.
var Builtins = []string{"path", "size", "content_type", "digest", "created", "updated"}

// Kind is the type of a literal (and of a metadata value).
type Kind int

const (
	String Kind = iota
	Number
	Bool
	Time // a date (2026-01-01) or an RFC 3339 time
	Null
	List // only with In
)

// Value is a literal.
type Value struct {
	Kind Kind
	Str  string
	Num  float64
	Bool bool
	Time time.Time
	List []Value
}

// Sort is one sort key of a listing.
type Sort struct {
	Field Field
	Desc  bool
}

// Fields is what Match sees of a file.
type Fields struct {
	Path        string
	Size        int64
	ContentType string
	Digest      string
	Created     time.Time
	Updated     time.Time
	Meta        map[string]any // the metadata object as decoded by encoding/json (numbers float64)
}
