package v1

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// place is where errors about a field path point in a file.
type place struct {
	line, col int
	// tok is the field's scalar string token, when an error inside the
	// string (a CEL column) can be pointed at exactly.
	tok *token.Token
}

// positions maps the field paths of one document to places.
type positions map[string]place

// record notes where path is: a scalar at its value; a mapping or list
// under a key at the key (the line that opens it); otherwise where it starts.
func (d *decoder) record(path string, n ast.Node, key *token.Token) {
	var pl place
	if _, scalar := scalarText(n); scalar || isNull(n) || key == nil {
		pl.line, pl.col = nodeStart(n)
		if s, ok := n.(*ast.StringNode); ok {
			pl.tok = s.Token
		}
		if pl.line == 0 && key != nil {
			pl.line, pl.col = tokenPos(key)
		}
	} else {
		pl.line, pl.col = tokenPos(key)
	}
	d.pos[path] = pl
}

// find returns the place of path, or of its nearest recorded parent (a
// missing field is reported where its mapping is).
func (p positions) find(path string) place {
	for {
		if pl, ok := p[path]; ok {
			return pl
		}
		if path == "" {
			return place{}
		}
		path = parentPath(path)
	}
}

// exprPlace points inside a scalar when err (from package lang) names a
// column of the string and the scalar is written on one line without
// escapes, so that columns of the string are columns of the file.
func exprPlace(pl place, err error) (line, col int) {
	l, c := lang.Pos(err)
	tok := pl.tok
	if l != 1 || tok == nil || strings.Contains(strings.TrimSpace(tok.Origin), "\n") {
		return pl.line, pl.col
	}
	shift := 0
	switch tok.Type {
	case token.StringType:
	case token.DoubleQuoteType:
		if strings.ContainsAny(tok.Value, `\"`) {
			return pl.line, pl.col
		}
		shift = 1
	case token.SingleQuoteType:
		if strings.Contains(tok.Value, "'") {
			return pl.line, pl.col
		}
		shift = 1
	default:
		return pl.line, pl.col
	}
	return pl.line, pl.col + shift + c - 1
}

func tokenPos(tk *token.Token) (line, col int) {
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// nodeStart is where a node begins: a block mapping at its first key (its
// own token is the first ':'), anything else at its token.
func nodeStart(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if !x.IsFlowStyle && len(x.Values) > 0 {
			return tokenPos(x.Values[0].Key.GetToken())
		}
		return tokenPos(x.Start)
	case *ast.MappingValueNode:
		return tokenPos(x.Key.GetToken())
	case *ast.LiteralNode:
		return tokenPos(x.Start)
	}
	return tokenPos(n.GetToken())
}
