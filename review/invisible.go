package review

import "strings"

// columnVisibility returns text, statements as the server reads them (see
// serverText), with the INVISIBLE and VISIBLE attributes of the column
// definitions of CREATE TABLE and ALTER TABLE (ADD, MODIFY and CHANGE
// COLUMN) blanked, since the TiDB parser does not read them, and the
// columns declared INVISIBLE. Offsets and line breaks are kept, so
// positions in the result are positions in text. INVISIBLE and VISIBLE
// after an index definition stay: the parser reads them. Text without the
// word visible is returned as it is, without allocating.
func columnVisibility(text string) (string, []invisibleColumn) {
	if !containsFold(text, "visible") {
		return text, nil
	}
	v := visibility{p: &tokParser{text: text, toks: tokens(text, 0)}}
	p := v.p
	for p.i < len(p.toks) {
		switch p.word() {
		case "CREATE":
			v.create()
		case "ALTER":
			v.alter()
		}
		// on to the next statement of a script with another delimiter
		for p.i < len(p.toks) && !p.peekPunct(";") {
			p.next()
		}
		p.next()
		v.stmt++
	}
	if v.b == nil {
		return text, nil
	}
	return string(v.b), v.names
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// invisibleColumn is a column that statement stmt (counting from 0) of a
// text declares INVISIBLE.
type invisibleColumn struct {
	stmt int
	name string
}

// visibility is the state of columnVisibility.
type visibility struct {
	p     *tokParser
	b     []byte // the text with attributes blanked; nil until one is
	stmt  int    // the statement read
	names []invisibleColumn
}

// create reads CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] name
// (elements...), after CREATE.
func (v *visibility) create() {
	p := v.p
	if p.peekWord() == "OR" {
		p.next()
		p.next()
	}
	if p.peekWord() == "TEMPORARY" {
		p.next()
	}
	if p.word() != "TABLE" {
		return
	}
	if p.peekWord() == "IF" {
		p.i += 3 // IF NOT EXISTS
	}
	p.qualifiedName()
	if !p.peekPunct("(") {
		return
	}
	p.next()
	for v.more() {
		switch w := p.peekWord(); w {
		case "INDEX", "KEY", "UNIQUE", "PRIMARY", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK":
			v.element("")
		case "PERIOD", "VECTOR":
			if next := v.wordAt(p.i + 1); w == "PERIOD" && next == "FOR" || w == "VECTOR" && (next == "INDEX" || next == "KEY") {
				v.element("")
				break
			}
			v.column()
		default:
			v.column()
		}
		p.skipPunct(",")
	}
}

// alter reads ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] name specs, after
// ALTER.
func (v *visibility) alter() {
	p := v.p
	for w := p.peekWord(); w == "ONLINE" || w == "IGNORE"; w = p.peekWord() {
		p.next()
	}
	if p.word() != "TABLE" {
		return
	}
	if p.peekWord() == "IF" {
		p.i += 2 // IF EXISTS
	}
	p.qualifiedName()
	for p.i < len(p.toks) && !p.peekPunct(";") {
		switch p.word() {
		case "WAIT":
			p.next()
			continue
		case "NOWAIT":
			continue
		case "ADD":
			v.added()
		case "MODIFY":
			v.columnWord()
			v.column()
		case "CHANGE":
			v.columnWord()
			p.name() // the old name
			v.column()
		}
		v.element("")
		if !p.peekPunct(";") {
			p.next() // the comma
		}
	}
}

// added reads what ALTER TABLE ... ADD adds, after ADD.
func (v *visibility) added() {
	p := v.p
	column := v.columnWord()
	if p.peekPunct("(") { // ADD [COLUMN] (a INT, b INT)
		p.next()
		for v.more() {
			v.column()
			p.skipPunct(",")
		}
		p.skipPunct(")")
		return
	}
	if !column {
		switch p.peekWord() {
		case "INDEX", "KEY", "UNIQUE", "PRIMARY", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK",
			"PARTITION", "PERIOD", "SYSTEM", "VECTOR":
			return
		}
	}
	v.column()
}

// columnWord skips COLUMN and IF [NOT] EXISTS; it reports whether COLUMN
// was there.
func (v *visibility) columnWord() bool {
	p := v.p
	column := p.peekWord() == "COLUMN"
	if column {
		p.next()
	}
	if p.peekWord() == "IF" {
		p.next()
		if p.word() == "NOT" {
			p.next()
		}
	}
	return column
}

// column reads a column definition: its name, then its type and
// attributes.
func (v *visibility) column() {
	v.element(v.p.name())
}

// element moves past the rest of a definition, up to the comma or
// parenthesis that closes it. For the column called name (none for "")
// it blanks the INVISIBLE and VISIBLE words outside parentheses that do
// not name something (the word after REFERENCES, AFTER...).
func (v *visibility) element(name string) {
	p := v.p
	prev := ""
	for p.i < len(p.toks) && !p.peekPunct(",") && !p.peekPunct(")") && !p.peekPunct(";") {
		if p.peekPunct("(") {
			p.skipParens()
			prev = ""
			continue
		}
		t := p.toks[p.i]
		if name != "" && t.kind == 'w' && (t.word == "INVISIBLE" || t.word == "VISIBLE") {
			switch prev {
			case "REFERENCES", "AFTER", "CONSTRAINT", "COLLATE", "SET", "CHARSET", "DEFAULT", ".":
			default:
				v.blank(t)
				if t.word == "INVISIBLE" {
					v.names = append(v.names, invisibleColumn{v.stmt, name})
				}
			}
		}
		prev = t.word
		p.next()
	}
}

// more reports whether a list of definitions goes on: the next token
// neither closes it nor ends the statement.
func (v *visibility) more() bool {
	p := v.p
	return p.i < len(p.toks) && !p.peekPunct(")") && !p.peekPunct(";")
}

// wordAt returns the token at i if it is a word, else "".
func (v *visibility) wordAt(i int) string {
	if i < len(v.p.toks) && v.p.toks[i].kind == 'w' {
		return v.p.toks[i].word
	}
	return ""
}

// blank replaces the token t with spaces.
func (v *visibility) blank(t token) {
	if v.b == nil {
		v.b = []byte(v.p.text)
	}
	for i := t.start; i < t.end; i++ {
		v.b[i] = ' '
	}
}

// markInvisible marks INVISIBLE the columns of t that statement stmt of
// cols declares so: t is the table that statement defined them for (the
// other columns it defines are visible, as columnFromDef makes them).
func markInvisible(t *TableDef, cols []invisibleColumn, stmt int) {
	for _, ic := range cols {
		if c := t.Column(ic.name); c != nil && ic.stmt == stmt {
			c.Invisible = true
		}
	}
}

// visibleColumns returns the number of t's columns that are not INVISIBLE:
// those an INSERT without a column list takes values for.
func visibleColumns(t *TableDef) int {
	n := 0
	for i := range t.Columns {
		if !t.Columns[i].Invisible {
			n++
		}
	}
	return n
}
