package binlog

import (
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values; parsing panics without a driver

	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// statementKind is what a Query event's statement is to the stream.
type statementKind uint8

const (
	stmtOther  statementKind = iota // not a change of rows or schema: ignored
	stmtBegin                       // opens a transaction (MySQL)
	stmtCommit                      // ends a transaction of non-transactional tables
	stmtDDL                         // a schema change
	stmtDML                         // a row change logged as a statement
)

// classify reads a Query event's statement: its kind and, for DDL and
// DML, the tables it changes (schema defaults to the event's database).
// A DDL statement the parser cannot read is taken to touch every table
// whose name it contains.
func classify(schema, query string, follows func(rowchange.Table) bool, followed []rowchange.Table) (statementKind, []rowchange.Table) {
	q := strings.TrimSpace(query)
	word := strings.ToUpper(FirstWord(q))
	switch word {
	case "BEGIN":
		return stmtBegin, nil
	case "COMMIT":
		return stmtCommit, nil
	case "ROLLBACK":
		if strings.EqualFold(q, "ROLLBACK") {
			return stmtCommit, nil // what non-transactional tables kept is logged
		}
		return stmtOther, nil
	case "SAVEPOINT", "RELEASE", "FLUSH", "GRANT", "REVOKE", "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "SET":
		return stmtOther, nil
	}
	box := parserPool.Get().(*parser.Parser)
	// The statements live in the parser's memory until its next Parse.
	defer parserPool.Put(box)
	stmts, _, err := box.Parse(q, "", "")
	if err != nil || len(stmts) != 1 {
		switch word {
		case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE":
			return stmtDDL, mentioned(schema, q, followed)
		}
		return stmtOther, nil
	}
	var names []*ast.TableName
	kind := stmtDDL
	switch s := stmts[0].(type) {
	case *ast.CreateTableStmt:
		names = []*ast.TableName{s.Table}
	case *ast.AlterTableStmt:
		names = []*ast.TableName{s.Table}
		for _, spec := range s.Specs {
			if spec.NewTable != nil {
				names = append(names, spec.NewTable)
			}
		}
	case *ast.DropTableStmt:
		if s.IsView {
			return stmtOther, nil
		}
		names = s.Tables
	case *ast.RenameTableStmt:
		for _, tt := range s.TableToTables {
			names = append(names, tt.OldTable, tt.NewTable)
		}
	case *ast.TruncateTableStmt:
		names = []*ast.TableName{s.Table}
	case *ast.CreateIndexStmt:
		names = []*ast.TableName{s.Table}
	case *ast.DropIndexStmt:
		names = []*ast.TableName{s.Table}
	case *ast.DropDatabaseStmt:
		var touched []rowchange.Table
		for _, t := range followed {
			if strings.EqualFold(t.Schema, s.Name.O) {
				touched = append(touched, t)
			}
		}
		return stmtDDL, touched
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.LoadDataStmt:
		kind = stmtDML
		var c tableCollector
		s.Accept(&c)
		names = c.names
	default:
		return stmtOther, nil
	}
	var touched []rowchange.Table
	for _, n := range names {
		t := rowchange.Table{Schema: n.Schema.O, Name: n.Name.O}
		if t.Schema == "" {
			t.Schema = schema
		}
		if follows(t) {
			touched = append(touched, t)
		}
	}
	return kind, touched
}

// FirstWord is the statement's first word (a keyword such as "UPDATE", as
// written), after comments; "" when there is none.
func FirstWord(q string) string {
	for {
		q = strings.TrimSpace(q)
		switch {
		case strings.HasPrefix(q, "/*") && !strings.HasPrefix(q, "/*!") && !strings.HasPrefix(q, "/*M!"):
			end := strings.Index(q, "*/")
			if end < 0 {
				return ""
			}
			q = q[end+2:]
			continue
		case strings.HasPrefix(q, "#"), strings.HasPrefix(q, "-- "):
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return ""
			}
			q = q[end+1:]
			continue
		}
		end := strings.IndexFunc(q, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
		if end < 0 {
			return q
		}
		return q[:end]
	}
}

// mentioned lists the followed tables of the statement's default schema
// whose name it contains as a word, and those of other schemas whose
// schema it names too, in any case.
func mentioned(schema, q string, followed []rowchange.Table) []rowchange.Table {
	lower := strings.ToLower(q)
	var out []rowchange.Table
	for _, t := range followed {
		if hasWord(lower, strings.ToLower(t.Name)) && (strings.EqualFold(t.Schema, schema) || hasWord(lower, strings.ToLower(t.Schema))) {
			out = append(out, t)
		}
	}
	return out
}

// hasWord reports whether s contains w with no identifier character
// right before or after it.
func hasWord(s, w string) bool {
	ident := func(c byte) bool {
		return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80
	}
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !ident(s[j-1])) && (end == len(s) || !ident(s[end])) {
			return true
		}
		i = j + 1
	}
}

// tableCollector gathers every table name of a statement.
type tableCollector struct{ names []*ast.TableName }

func (c *tableCollector) Enter(n ast.Node) (ast.Node, bool) {
	if t, ok := n.(*ast.TableName); ok {
		c.names = append(c.names, t)
	}
	return n, false
}

func (c *tableCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// parserPool holds parsers; a parser is not safe for concurrent use.
var parserPool = sync.Pool{New: func() any { return parser.New() }}
