package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/koya-dev/koya/errs"
	"github.com/koya-dev/koya/internal/expr/lang"
)

// MaxDocumentSize is the largest file Parse reads.
const MaxDocumentSize = 8 << 20

// kinds are the document kinds Parse knows, by name.
var kinds = map[string]func() validatable{
	"Project":  func() validatable { return &Project{} },
	"Workflow": func() validatable { return &Workflow{} },
}

type validatable interface {
	Object
	Validate() errs.List
}

// Parse reads the koya documents of a file: YAML (several documents
// separated by ---, or a list of documents) or JSON. Each is decoded by its
// kind with unknown fields rejected, then validated. Every problem of the
// file comes back at once as an errs.List (via List.Err), each an
// *errs.Error of code Invalid whose Where is filename:line:column and whose
// message starts with the field path it is about. The objects decoded are
// returned even when there are errors; callers must not use them then.
func Parse(filename string, data []byte) ([]Object, error) {
	if len(data) > MaxDocumentSize {
		return nil, errs.At(errs.TooLarge, filename, "the file is %d bytes; documents are at most %d", len(data), MaxDocumentSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if looksJSON(data) {
		valid, e := checkJSON(filename, data)
		if e != nil {
			return nil, e
		}
		if valid {
			// Valid JSON has tabs only between tokens, where YAML refuses
			// them; spaces keep every column where it was.
			data = bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
		}
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(filename, data, err)
	}
	var objs []Object
	var probs []problem
	for _, doc := range file.Docs {
		anchors := map[string]ast.Node{}
		collectAnchors(doc.Body, anchors)
		body := (&decoder{anchors: anchors}).resolve(doc.Body)
		if body == nil || body.Type() == ast.CommentType {
			continue
		}
		docs := []ast.Node{body}
		if seq, ok := body.(*ast.SequenceNode); ok {
			docs = seq.Values
		}
		for _, n := range docs {
			d := &decoder{anchors: anchors, pos: positions{}}
			if obj := d.document(d.resolve(n)); obj != nil {
				objs = append(objs, obj)
			}
			probs = append(probs, d.problems...)
		}
	}
	if len(objs) == 0 && len(probs) == 0 {
		return nil, errs.At(errs.Invalid, filename, "no documents: a file holds one or more documents with apiVersion, kind, metadata and spec")
	}
	sort.SliceStable(probs, func(i, j int) bool {
		if probs[i].line != probs[j].line {
			return probs[i].line < probs[j].line
		}
		return probs[i].col < probs[j].col
	})
	list := make(errs.List, 0, len(probs))
	for _, p := range probs {
		msg := p.msg
		if p.path != "" {
			msg = p.path + ": " + msg
		}
		list = append(list, &errs.Error{Code: errs.Invalid, Where: where(filename, p.line, p.col), Message: msg})
	}
	return objs, list.Err()
}

// document decodes and validates one document.
func (d *decoder) document(n ast.Node) Object {
	es, ok := d.entries(n)
	if !ok {
		d.fail(n, "", "a document is a mapping with apiVersion, kind, metadata and spec, not %s", describeNode(n))
		return nil
	}
	known := sortedKeys(kinds)
	kind, kindNode := "", ast.Node(nil)
	for _, e := range es {
		if d.keyText(e.Key) == "kind" {
			kindNode = d.resolve(e.Value)
			kind, _ = scalarText(kindNode)
		}
	}
	newObj, ok := kinds[kind]
	switch {
	case kindNode == nil || kind == "":
		d.fail(n, "kind", "missing: every document names its kind, one of %s", strings.Join(known, ", "))
		return nil
	case !ok:
		hint := ""
		if c, ok := lang.Closest(kind, known); ok {
			hint = " (did you mean " + c + "?)"
		}
		d.fail(kindNode, "kind", "unknown kind %q%s; %s documents are %s", kind, hint, APIVersion, strings.Join(known, ", "))
		return nil
	}
	obj := newObj()
	d.value(n, nil, reflect.ValueOf(obj).Elem(), "")
	for _, e := range obj.Validate() {
		if d.suppressed(e.Where) {
			continue
		}
		line, col := exprPlace(d.pos.find(e.Where), e)
		d.problems = append(d.problems, problem{line: line, col: col, path: e.Where, msg: e.Message})
	}
	return obj
}

func where(filename string, line, col int) string {
	if filename == "" {
		return fmt.Sprintf("%d:%d", line, col)
	}
	return fmt.Sprintf("%s:%d:%d", filename, line, col)
}

func looksJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// checkJSON tells whether data is valid JSON, and reports a JSON syntax
// error at its line and column. Flow-style YAML also starts with { or [, so
// only input that fails as both is reported as JSON.
func checkJSON(filename string, data []byte) (bool, error) {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return true, nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return false, nil
	}
	if _, yerr := parser.ParseBytes(data, 0); yerr == nil {
		return false, nil
	}
	line, col := offsetPos(data, int(se.Offset)-1)
	return false, errs.At(errs.Invalid, where(filename, line, col), "JSON syntax: %v", se)
}

func offsetPos(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}

// yamlError turns a YAML syntax error into one positioned error, with a
// hint for the usual causes: tabs and indentation.
func yamlError(filename string, data []byte, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return errs.Wrap(errs.Invalid, err, "%s: YAML syntax: %v", filename, err)
	}
	pos := ye.GetToken().Position
	msg := "YAML syntax: " + ye.GetMessage()
	lines := strings.Split(string(data), "\n")
	indentTab := func(l int) bool {
		if l < 1 || l > len(lines) {
			return false
		}
		s := lines[l-1]
		return strings.Contains(s[:len(s)-len(strings.TrimLeft(s, " \t"))], "\t")
	}
	switch {
	case indentTab(pos.Line) || indentTab(pos.Line-1) || strings.Contains(msg, "'\t'"):
		msg += " (YAML indents with spaces only: replace the tab at the start of the line with spaces)"
	case strings.Contains(msg, "not allowed in this context") || strings.Contains(msg, "indent"):
		msg += " (check the indentation: the keys of one mapping start in the same column, and what belongs to a key is indented further than the key)"
	}
	msg = strings.ReplaceAll(msg, "'\t'", `'\t' (a tab)`)
	return errs.List{errs.At(errs.Invalid, where(filename, pos.Line, pos.Column), "%s", msg)}.Err()
}
