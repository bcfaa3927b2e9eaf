package review

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// execComment is an executable comment in a statement: /*! ... */,
// /*!NNNNN ... */, /*M! ... */ or /*M!NNNNNN ... */. MySQL and MariaDB run
// what is inside when their version is at least NNNNN (always without a
// version); only MariaDB runs /*M! comments.
type execComment struct {
	open    int  // offset of the "/*"
	body    int  // offset of the first byte after the marker and version
	close   int  // offset of the closing "*/", -1 when the statement ends first
	version int  // the version the comment requires, 0 for none
	maria   bool // /*M!: MariaDB only
	// tidb marks a /*T! ... */ comment: code for TiDB's parser, a plain
	// comment for MySQL and MariaDB, which never run it.
	tidb bool
}

// isExecComment reports whether src[i:] starts an executable comment.
func isExecComment(src string, i int) bool {
	if i+2 >= len(src) || src[i] != '/' || src[i+1] != '*' {
		return false
	}
	return src[i+2] == '!' || src[i+2] == 'M' && i+3 < len(src) && src[i+3] == '!'
}

// isTiDBComment reports whether src[i:] starts a /*T! comment.
func isTiDBComment(src string, i int) bool {
	return i+3 < len(src) && src[i+2] == 'T' && src[i+3] == '!'
}

// readExecMarker reads the marker of the executable comment at src[i]: the
// comment's kind, version and the offset of its body. A version is five or
// six digits; fewer digits are part of the body, as on the server.
func readExecMarker(src string, i int) execComment {
	c := execComment{open: i, body: i + 3, close: -1}
	if src[i+2] == 'M' {
		c.maria, c.body = true, i+4
	}
	n := 0
	for c.body+n < len(src) && n < 6 && src[c.body+n] >= '0' && src[c.body+n] <= '9' {
		c.version = c.version*10 + int(src[c.body+n]-'0')
		n++
	}
	if n < 5 {
		c.version = 0
		return c
	}
	c.body += n
	return c
}

// shift moves c's offsets by delta, into a statement text of length n
// (a comment the text ends inside is unterminated there).
func (c *execComment) shift(delta, n int) {
	c.open += delta
	c.body = min(c.body+delta, n)
	if c.close >= 0 {
		c.close += delta
		if c.close >= n {
			c.close = -1
		}
	}
}

// end returns the offset after the comment in text.
func (c *execComment) end(text string) int {
	if c.close < 0 {
		return len(text)
	}
	return c.close + 2
}

// marker returns how the comment opens, for messages: "/*!50000".
func (c *execComment) marker(text string) string { return text[c.open:c.body] }

// target is the server version executable comments are judged for.
type target struct {
	known   bool // false: judge as if every server version ran every comment
	mariadb bool
	max     int // the highest version of the series, as comments write it: 101199 for 10.11.x
}

// targetOf returns the target of server flavour s; "" means unknown.
func targetOf(s Server) target {
	switch s {
	case MariaDB1011:
		return target{known: true, mariadb: true, max: 101199}
	case MySQL80:
		return target{known: true, max: 80099}
	}
	return target{}
}

// runs reports whether the target runs what comment c holds. With an
// unknown version it does: assuming so is the safe side for a review.
func (t target) runs(c *execComment) bool {
	if c.tidb {
		return false
	}
	if !t.known {
		return true
	}
	if c.maria && !t.mariadb {
		return false
	}
	return c.version <= t.max
}

// String names the target in messages.
func (t target) String() string {
	if !t.known {
		return "any server version"
	}
	if t.mariadb {
		return fmt.Sprintf("MariaDB %d.%d", t.max/10000, t.max/100%100)
	}
	return fmt.Sprintf("MySQL %d.%d", t.max/10000, t.max/100%100)
}

// serverText returns text as the target server reads it: the markers of
// executable comments it runs become blanks (their content stays), and
// comments it does not run (/*T! ones among them, which the TiDB parser
// would read as code) become blanks entirely. Offsets and line breaks
// are kept, so positions in the result are positions in text. The second
// result holds the comments that run.
func serverText(text string, execs []execComment, t target) (string, []execComment) {
	if len(execs) == 0 {
		return text, nil
	}
	b := []byte(text)
	blank := func(from, to int) {
		for i := from; i < to; i++ {
			if b[i] != '\n' {
				b[i] = ' '
			}
		}
	}
	var ran []execComment
	for i := range execs {
		c := &execs[i]
		if !t.runs(c) {
			blank(c.open, c.end(text))
			continue
		}
		ran = append(ran, *c)
		blank(c.open, c.body)
		if c.close >= 0 {
			blank(c.close, c.close+2)
		}
	}
	return string(b), ran
}

// hiddenCode returns a short description of what the statement's running
// executable comments hide from a reader, or "" when they hide nothing a
// change review must point out. A whole statement in a comment is hidden,
// except a session SET (the mysqldump header /*!40101 SET ... */) and
// ALTER TABLE ... DISABLE/ENABLE KEYS (also mysqldump); so is a clause in
// a statement that changes existing data, schema or privileges. Clauses of
// CREATE statements (mysqldump writes partitioning, DEFINER and options
// so) and of queries and SETs are judged with their statement but not
// pointed out.
func hiddenCode(st *stmtState) string {
	text := st.res.Text
	for i := range st.execs {
		c := &st.execs[i]
		body := strings.TrimSpace(text[c.body:bodyEnd(text, c)])
		if body == "" {
			continue
		}
		typ := st.res.Type
		if c.open == 0 {
			if typ == "SET" || isKeysToggle(st.node) {
				return ""
			}
			return fmt.Sprintf("the whole %s statement is inside the executable comment %s", typ, c.marker(text))
		}
		if strings.HasPrefix(typ, "CREATE") || typ == "SET" || st.res.Kind == KindQuery {
			return ""
		}
		return fmt.Sprintf("the executable comment %s adds %q to this %s", c.marker(text), firstLine(body, 60), typ)
	}
	return ""
}

// isKeysToggle reports ALTER TABLE ... DISABLE KEYS or ENABLE KEYS, which
// mysqldump writes around a table's rows.
func isKeysToggle(n ast.StmtNode) bool {
	a, ok := n.(*ast.AlterTableStmt)
	if !ok || len(a.Specs) == 0 {
		return false
	}
	for _, s := range a.Specs {
		if s.Tp != ast.AlterTableDisableKeys && s.Tp != ast.AlterTableEnableKeys {
			return false
		}
	}
	return true
}

// bodyEnd returns the offset where c's content ends in text.
func bodyEnd(text string, c *execComment) int {
	if c.close < 0 {
		return len(text)
	}
	return c.close
}
