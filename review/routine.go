package review

import (
	"strings"
)

// Routine describes a statement that creates, changes or drops a stored
// program: a procedure, function, trigger or event. The reviewer
// recognises these from their text, so rules see them even when the TiDB
// parser cannot read them (triggers, functions, events, MariaDB forms).
type Routine struct {
	// Action is "CREATE", "ALTER" or "DROP".
	Action string `json:"action"`
	// Kind is "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT" or "PACKAGE".
	Kind string `json:"kind"`
	// Database is the database the name is qualified with, "" if none.
	Database string `json:"database,omitempty"`
	// Name is the stored program's name.
	Name string `json:"name"`
	// Table is a trigger's table ("" for other kinds); TableDatabase the
	// database it is qualified with, "" if none.
	Table         string `json:"table,omitempty"`
	TableDatabase string `json:"table_database,omitempty"`
	// Timing and Event are a trigger's BEFORE or AFTER and its INSERT,
	// UPDATE or DELETE.
	Timing string `json:"timing,omitempty"`
	Event  string `json:"event,omitempty"`
	// BodyStart and BodyEnd are the byte offsets of the body (what runs:
	// the routine's statement or BEGIN ... END block, the event's DO
	// part) within the statement's text; both 0 for DROP and ALTER.
	BodyStart int `json:"body_start,omitempty"`
	BodyEnd   int `json:"body_end,omitempty"`
}

// token is a word, a quoted string or identifier, or a punctuation byte of
// a statement's text.
type token struct {
	start, end int
	word       string // upper case for words; the unquoted name for `quoted` identifiers
	kind       byte   // 'w' word, 'q' backquoted identifier, 's' string, 'p' punctuation
}

// tokens splits text into tokens, skipping blanks and comments (the
// inside of /*! executable comments is read as code), up to limit tokens
// (all when limit <= 0).
func tokens(text string, limit int) []token {
	var out []token
	for i := 0; i < len(text) && (limit <= 0 || len(out) < limit); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#', c == '-' && isDashComment(text, i):
			i = lineEnd(text, i)
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			if isExecComment(text, i) {
				m := readExecMarker(text, i)
				i = m.body
			} else {
				i = commentEnd(text, i)
			}
		case c == '*' && i+1 < len(text) && text[i+1] == '/':
			i += 2 // the end of an executable comment
		case c == '`' || c == '\'' || c == '"':
			j := quoteEnd(text, i)
			t := token{start: i, end: j, kind: 's'}
			if c == '`' {
				t.kind = 'q'
				t.word = strings.ReplaceAll(text[i+1:max(j-1, i+1)], "``", "`")
			}
			out = append(out, t)
			i = j
		case isWordByte(c) || c >= 0x80:
			j := i
			for j < len(text) && (isWordByte(text[j]) || text[j] == '$' || text[j] >= 0x80) {
				j++
			}
			out = append(out, token{start: i, end: j, word: strings.ToUpper(text[i:j]), kind: 'w'})
			i = j
		default:
			out = append(out, token{start: i, end: i + 1, word: text[i : i+1], kind: 'p'})
			i++
		}
	}
	return out
}

// routineKinds are the stored program kinds, as they follow CREATE,
// ALTER or DROP.
var routineKinds = map[string]bool{"PROCEDURE": true, "FUNCTION": true, "TRIGGER": true, "EVENT": true, "PACKAGE": true}

// recognizeRoutine returns the stored program text creates, changes or
// drops, or nil when it is another statement.
func recognizeRoutine(text string) *Routine {
	toks := tokens(text, 0)
	p := &tokParser{text: text, toks: toks}
	action := p.word()
	switch action {
	case "CREATE", "ALTER", "DROP":
	default:
		return nil
	}
	r := &Routine{Action: action}
	// CREATE [OR REPLACE] [DEFINER = user] [AGGREGATE] kind
	for r.Kind == "" {
		w := p.peekWord()
		switch {
		case w == "":
			return nil
		case routineKinds[w]:
			r.Kind = p.word()
			if w == "PACKAGE" && p.peekWord() == "BODY" {
				p.next()
			}
		case w == "OR" || w == "REPLACE" || w == "AGGREGATE" || w == "NONEDITIONABLE" || w == "EDITIONABLE":
			p.next()
		case w == "DEFINER":
			p.next()
			p.skipPunct("=")
			p.skipUser()
		default:
			return nil
		}
	}
	if p.peekWord() == "IF" {
		p.next()
		if p.peekWord() == "NOT" {
			p.next()
		}
		if p.peekWord() == "EXISTS" {
			p.next()
		}
	}
	r.Database, r.Name = p.qualifiedName()
	if r.Name == "" {
		return nil
	}
	if action != "CREATE" {
		return r
	}
	switch r.Kind {
	case "TRIGGER":
		r.Timing, r.Event = p.word(), p.word()
		for p.peekWord() == "OR" { // MariaDB: several events
			p.next()
			r.Event += " OR " + p.word()
		}
		if p.peekWord() != "ON" {
			return r
		}
		p.next()
		r.TableDatabase, r.Table = p.qualifiedName()
		for _, w := range []string{"FOR", "EACH", "ROW"} {
			if p.peekWord() == w {
				p.next()
			}
		}
		if w := p.peekWord(); w == "FOLLOWS" || w == "PRECEDES" {
			p.next()
			p.qualifiedName()
		}
	case "EVENT":
		for p.i < len(p.toks) && p.peekWord() != "DO" {
			p.next()
		}
		p.next()
	default: // PROCEDURE, FUNCTION, PACKAGE
		p.skipParens()
		p.skipCharacteristics()
	}
	if p.i < len(p.toks) {
		r.BodyStart, r.BodyEnd = p.toks[p.i].start, len(strings.TrimRight(text, " \t\r\n;"))
	}
	return r
}

// tokParser reads a routine's header token by token.
type tokParser struct {
	text string
	toks []token
	i    int
}

func (p *tokParser) next() {
	if p.i < len(p.toks) {
		p.i++
	}
}

// peekWord returns the next token if it is a word, else "".
func (p *tokParser) peekWord() string {
	if p.i < len(p.toks) && p.toks[p.i].kind == 'w' {
		return p.toks[p.i].word
	}
	return ""
}

// word consumes and returns the next word, or "" when the next token is
// not one.
func (p *tokParser) word() string {
	w := p.peekWord()
	if w != "" {
		p.i++
	}
	return w
}

func (p *tokParser) peekPunct(s string) bool {
	return p.i < len(p.toks) && p.toks[p.i].kind == 'p' && p.toks[p.i].word == s
}

func (p *tokParser) skipPunct(s string) {
	if p.peekPunct(s) {
		p.i++
	}
}

// skipUser skips a DEFINER's account: user@host, quoted or not, or
// CURRENT_USER[()].
func (p *tokParser) skipUser() {
	switch p.word() {
	case "CURRENT_USER":
		p.skipParens()
		return
	case "":
		p.next() // a quoted user name
	}
	if p.peekPunct("@") {
		p.next()
		p.next()
	}
}

// name returns the next identifier as written (unquoted), or "".
func (p *tokParser) name() string {
	if p.i >= len(p.toks) {
		return ""
	}
	t := p.toks[p.i]
	switch t.kind {
	case 'q':
		p.i++
		return t.word
	case 'w':
		p.i++
		return p.text[t.start:t.end]
	}
	return ""
}

// qualifiedName reads [database.]name.
func (p *tokParser) qualifiedName() (db, name string) {
	name = p.name()
	if p.peekPunct(".") {
		p.next()
		db, name = name, p.name()
	}
	return db, name
}

// skipParens skips a parenthesised group, nested ones included, if the
// next token opens one.
func (p *tokParser) skipParens() {
	if !p.peekPunct("(") {
		return
	}
	depth := 0
	for ; p.i < len(p.toks); p.i++ {
		switch {
		case p.peekPunct("("):
			depth++
		case p.peekPunct(")"):
			depth--
			if depth == 0 {
				p.i++
				return
			}
		}
	}
}

// skipCharacteristics skips a function's RETURNS clause and a routine's
// characteristics (COMMENT, LANGUAGE SQL, DETERMINISTIC, SQL SECURITY...),
// stopping at the body.
func (p *tokParser) skipCharacteristics() {
	for p.i < len(p.toks) {
		switch p.peekWord() {
		case "RETURNS":
			p.next()
			p.word() // the type
			p.skipParens()
			p.skipTypeAttributes()
		case "COMMENT":
			p.next()
			p.next()
		case "LANGUAGE", "CONTAINS", "NO":
			p.next()
			p.next()
		case "NOT", "DETERMINISTIC":
			p.next()
		case "READS", "MODIFIES":
			p.next()
			p.next()
			p.next()
		case "SQL":
			p.next()
			if p.peekWord() == "SECURITY" {
				p.next()
				p.next()
			}
		default:
			return
		}
	}
}

// skipTypeAttributes skips the attributes after a data type: UNSIGNED,
// CHARACTER SET x, COLLATE x and the like.
func (p *tokParser) skipTypeAttributes() {
	for {
		switch p.peekWord() {
		case "UNSIGNED", "SIGNED", "ZEROFILL", "BINARY", "ASCII", "UNICODE":
			p.next()
		case "CHARACTER", "CHARSET", "COLLATE":
			if p.word() == "CHARACTER" {
				p.word() // SET
			}
			p.name()
		default:
			return
		}
	}
}

// isCompoundStart reports whether the statement at src[i:] creates a
// stored program, whose body may hold ;-separated statements inside
// BEGIN ... END.
func isCompoundStart(src string, i int) bool {
	if len(src)-i < 6 || !strings.EqualFold(src[i:i+6], "CREATE") && src[i] != '/' {
		return false
	}
	for _, w := range leadingWords(src[i:min(len(src), i+200)], make([]string, 0, 6))[1:] {
		if routineKinds[w] {
			return true
		}
	}
	return false
}

// afterEnd reads what follows the END whose word ends at src[j]: it
// reports whether the END closes a BEGIN or CASE block (END IF, END
// LOOP, END WHILE, END REPEAT and END FOR close statements whose start is
// not counted) and returns the offset to scan on from, past END CASE's
// CASE and the like.
func afterEnd(src string, j int) (closes bool, next int) {
	k := j
	for k < len(src) && (src[k] == ' ' || src[k] == '\t' || src[k] == '\n' || src[k] == '\r') {
		k++
	}
	e := k
	for e < len(src) && isWordByte(src[e]) {
		e++
	}
	switch strings.ToUpper(src[k:e]) {
	case "IF", "LOOP", "WHILE", "REPEAT", "FOR":
		return false, e
	case "CASE":
		return true, e
	}
	return true, j
}
