package dumpscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"sort"
)

// maxLine caps the prefix kept of a line that may matter (a comment, a
// CHANGE or SET statement, a DELIMITER command); a longer line is
// ignored. A GTID set continued over several lines shares the cap.
const maxLine = 64 << 10

// Scanner observes a mysqldump or mariadb-dump stream. Write it every
// byte of the stream in order, in chunks of any size; it never retains
// the chunks, and whatever the chunking, it reaches the same result.
// Its memory is bounded by a line buffer of about 64 KiB plus one
// Section per header seen, whatever the size of the dump. It is not safe for
// concurrent use: a reader of its results must synchronize with the
// writer.
//
// The scanner reads the stream line by line, looking only at the start
// of each line, except within an INSERT statement, which it follows to
// its end:
//
//   - A line "-- <header>" starts a Section (see SectionKind). Text
//     before the first header is a SectionOther preamble.
//   - Rows are counted in INSERT INTO, INSERT IGNORE INTO and REPLACE
//     INTO statements (any letter case) that start at the beginning of a
//     line: each "(" after the VALUES keyword at parenthesis depth 0,
//     outside quotes, is a row; the statement ends at a ";" at depth 0
//     outside quotes, and the rest of that line is ignored. Quotes are
//     '...' and "..." with backslash escapes and doubled-quote escapes,
//     and `...` with doubled backticks; a quote may span lines. This
//     handles --extended-insert output with all rows on one line (MySQL)
//     or one row a line (mariadb-dump 10.11), --skip-extended-insert,
//     and the column list of --complete-insert, which is not a row. Rows
//     are counted as their "(" passes, and only in SectionTableData
//     sections, so a --compact dump, which has no headers, counts none.
//   - Between "DELIMITER <d>" (d other than ";") and "DELIMITER ;" lines,
//     the bodies of triggers, routines and events, nothing is counted
//     and no header or position is recognized.
//   - CHANGE and SET lines, commented out or not, give the Position.
//
// A header, CHANGE, SET or DELIMITER line is interpreted when its
// newline arrives, so such a line at the very end without a newline is
// counted in Lines but not interpreted.
type Scanner struct {
	bytes int64
	nl    int64 // newlines before cnt of the chunk being written
	cnt   int   // how far into the chunk being written nl has counted
	last  byte  // the last byte written

	st     state
	pre    [maxPrefix]byte // the start of a line not yet classified
	preN   int
	lk     lineKind // what the line in buf is
	buf    []byte   // the line being kept, at most maxLine bytes
	over   bool     // the line in buf went past maxLine; ignore it
	lineNo int64    // the line number of the last line starting with '-'
	delim  bool     // between DELIMITER ;; and DELIMITER ;
	cont   bool     // buf holds a GTID set whose quote is still open
	contAt int      // where in buf the current continuation line starts

	// Within an INSERT statement.
	count  bool // rows are counted: the statement is in a data section
	quote  byte // the quote being skipped, or 0
	esc    bool // the next byte is escaped by a backslash
	depth  int  // parenthesis depth after VALUES
	inWord bool // before VALUES: within a word
	kw     int  // before VALUES: letters of VALUES matched in the word, or -1

	sections []Section
	rows     int64
	pos      Position
	fileSet  bool
	gtidSet  bool
}

// state is where the scanner is in the stream.
type state uint8

const (
	stLineStart state = iota // at the first byte of a line
	stPrefix                 // the first bytes of the line are in pre, too few to tell what it is
	stSkipLine               // ignoring the rest of the line
	stBufLine                // keeping the line in buf
	stHead                   // in an INSERT statement, before VALUES
	stBody                   // in an INSERT statement, after VALUES
)

// lineKind is what a line is, as told by its first bytes.
type lineKind uint8

const (
	lkNone      lineKind = iota
	lkComment            // "--"
	lkPosition           // "CHANGE ", "SET ", "/* SET "
	lkDelimiter          // "DELIMITER "
	lkInsert             // "INSERT INTO ", "INSERT IGNORE INTO ", "REPLACE INTO "
)

// linePrefixes tell a line's kind from its first bytes, ignoring case.
var linePrefixes = [...]struct {
	s string // upper case
	k lineKind
}{
	{"--", lkComment},
	{"CHANGE ", lkPosition},
	{"SET ", lkPosition},
	{"/* SET ", lkPosition},
	{"DELIMITER ", lkDelimiter},
	{"INSERT INTO ", lkInsert},
	{"INSERT IGNORE INTO ", lkInsert},
	{"REPLACE INTO ", lkInsert},
}

// maxPrefix is the length of the longest of linePrefixes.
const maxPrefix = len("INSERT IGNORE INTO ")

// byte classes.
const (
	clFirst      = 1 << iota // may start a line of interest outside DELIMITER blocks
	clFirstDelim             // may start a line of interest within DELIMITER blocks
	clSpecial                // ( ) ' " ` : stops the scan within a row
	clWord                   // may be part of an unquoted word
)

var class = func() (t [256]uint8) {
	for _, p := range linePrefixes {
		t[p.s[0]] |= clFirst
		t[p.s[0]|0x20] |= clFirst // lower case; harmless for '-' and '/'
	}
	t['D'] |= clFirstDelim
	t['d'] |= clFirstDelim
	for _, c := range []byte("()'\"`") {
		t[c] |= clSpecial
	}
	for c := 0; c < 256; c++ {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80 {
			t[c] |= clWord
		}
	}
	return t
}()

// New returns a Scanner at the start of a stream.
func New() *Scanner {
	return &Scanner{}
}

// Write observes the next bytes of the stream. It always returns
// len(p), nil, so that it can stand in an io.MultiWriter or io.TeeReader.
func (s *Scanner) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(s.sections) == 0 {
		s.sections = append(s.sections, Section{Kind: SectionOther, StartLine: 1})
	}
	s.cnt = 0
	for i := 0; i < len(p); {
		switch s.st {
		case stLineStart, stPrefix:
			i = s.lineStart(p, i)
		case stSkipLine:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				i = len(p)
			} else {
				i += j + 1
				s.st = stLineStart
			}
		case stBufLine:
			i = s.bufLine(p, i)
		case stHead:
			i = s.head(p, i)
		case stBody:
			i = s.body(p, i)
		}
	}
	s.nl += int64(bytes.Count(p[s.cnt:], []byte{'\n'}))
	s.bytes += int64(len(p))
	s.last = p[len(p)-1]
	return len(p), nil
}

// lineAt returns the 1-based number of the line holding p[i].
func (s *Scanner) lineAt(p []byte, i int) int64 {
	s.nl += int64(bytes.Count(p[s.cnt:i], []byte{'\n'}))
	s.cnt = i
	return s.nl + 1
}

// lineStart classifies the line starting at p[i] (stLineStart), or
// whose first bytes are already in pre (stPrefix).
func (s *Scanner) lineStart(p []byte, i int) int {
	if s.st == stLineStart {
		c := p[i]
		want := uint8(clFirst)
		if s.delim {
			want = clFirstDelim
		}
		if class[c]&want == 0 && !s.cont {
			s.st = stSkipLine
			return i
		}
		if c == '-' {
			s.lineNo = s.lineAt(p, i)
		}
		b := p[i:min(len(p), i+maxPrefix)]
		k, n, need := matchPrefix(b, s.delim)
		if need { // only at the end of p
			s.preN = copy(s.pre[:], b)
			s.st = stPrefix
			return len(p)
		}
		return s.decide(k, n, i, 0)
	}
	old := s.preN
	s.preN += copy(s.pre[old:], p[i:])
	k, n, need := matchPrefix(s.pre[:s.preN], s.delim)
	if need { // only when all of p went into pre
		return len(p)
	}
	return s.decide(k, n, i, old)
}

// matchPrefix tells the kind of a line from its first bytes b (possibly
// running past its newline) and the length n of the prefix that told it.
// need reports that b is too short to tell.
func matchPrefix(b []byte, delim bool) (k lineKind, n int, need bool) {
	for _, c := range linePrefixes {
		if delim && c.k != lkDelimiter {
			continue
		}
		m := min(len(b), len(c.s))
		if !hasPrefixFold(b[:m], c.s[:m]) {
			continue
		}
		if m == len(c.s) {
			return c.k, m, false
		}
		need = true
	}
	return lkNone, 0, need
}

// decide acts on the kind k of the line whose first old bytes are in pre
// and whose next byte is p[i]; n is the length of the prefix that told k.
func (s *Scanner) decide(k lineKind, n int, i, old int) int {
	s.preN = 0
	if s.cont && k != lkNone {
		s.cont = false // not a continuation of the GTID set after all
		s.buf = s.buf[:0]
	}
	switch k {
	case lkNone:
		if s.cont {
			s.contAt = len(s.buf)
			s.buf = append(s.buf, s.pre[:old]...)
			s.st = stBufLine
			return i
		}
		s.st = stSkipLine
		return i
	case lkInsert:
		s.st = stHead
		s.count = s.sections[len(s.sections)-1].Kind == SectionTableData
		s.quote, s.esc, s.depth, s.inWord, s.kw = 0, false, 0, false, 0
		return i + n - old
	}
	s.lk = k
	s.buf = append(s.buf[:0], s.pre[:old]...)
	s.st = stBufLine
	return i
}

// bufLine keeps the line up to its newline in buf, and interprets it
// there.
func (s *Scanner) bufLine(p []byte, i int) int {
	j := bytes.IndexByte(p[i:], '\n')
	end := len(p)
	if j >= 0 {
		end = i + j
	}
	if seg := p[i:end]; !s.over {
		// A continuation line may start with buf already full.
		if room := max(0, maxLine-len(s.buf)); len(seg) > room {
			seg = seg[:room]
			s.over = true
		}
		s.buf = append(s.buf, seg...)
	}
	if j < 0 {
		return len(p)
	}
	s.st = stLineStart
	switch {
	case s.over:
		s.cont = false
	case s.cont:
		// A continuation line: look again only once a quote may close.
		if bytes.IndexByte(s.buf[s.contAt:], '\'') >= 0 || bytes.IndexByte(s.buf[s.contAt:], '"') >= 0 {
			s.cont = false
			s.position(s.statement())
		}
	default:
		s.interpret()
	}
	s.over = false
	if s.cont {
		s.buf = append(s.buf, '\n')
	} else {
		s.buf = s.buf[:0]
	}
	return end + 1
}

// interpret acts on the whole line in buf.
func (s *Scanner) interpret() {
	switch s.lk {
	case lkComment:
		if rest := s.statement(); len(rest) > 0 && !s.header(rest) {
			s.position(rest)
		}
	case lkPosition:
		s.position(s.statement())
	case lkDelimiter:
		d := bytes.TrimSpace(s.buf[len("DELIMITER "):])
		s.delim = len(d) != 1 || d[0] != ';'
	}
}

// statement returns the line in buf without trailing blanks and without
// the "-- " or "/* " that comments it out. It is empty for a comment
// line that does not start with "-- ".
func (s *Scanner) statement() []byte {
	line := bytes.TrimRight(s.buf, " \t\r")
	switch {
	case s.lk == lkComment && (len(line) < 3 || line[2] != ' '):
		return nil
	case s.lk == lkComment, bytes.HasPrefix(line, []byte("/* ")):
		return line[3:]
	}
	return line
}

// head follows an INSERT statement up to its VALUES keyword.
func (s *Scanner) head(p []byte, i int) int {
	for i < len(p) {
		if s.quote != 0 {
			i = s.skipQuote(p, i)
			continue
		}
		c := p[i]
		if class[c]&clWord != 0 {
			if !s.inWord {
				s.inWord, s.kw = true, 0
			}
			if s.kw >= 0 {
				if s.kw < len("VALUES") && upper(c) == "VALUES"[s.kw] {
					s.kw++
				} else {
					s.kw = -1
				}
			}
			i++
			continue
		}
		if s.inWord {
			s.inWord = false
			if s.kw >= len("VALUE") { // VALUE is a synonym
				s.st = stBody
				return i
			}
		}
		switch c {
		case '\'', '"', '`':
			s.quote = c
		case ';':
			s.st = stSkipLine // an INSERT without VALUES
		}
		i++
		if s.st != stHead {
			return i
		}
	}
	return i
}

// body follows an INSERT statement from its VALUES keyword to its end,
// counting rows.
func (s *Scanner) body(p []byte, i int) int {
	for i < len(p) {
		if s.quote != 0 {
			i = s.skipQuote(p, i)
			continue
		}
		if s.depth == 0 {
			c := p[i]
			i++
			switch c {
			case '(':
				s.depth = 1
				if s.count {
					s.rows++
					s.sections[len(s.sections)-1].Rows++
				}
			case ';':
				s.st = stSkipLine
				return i
			case '\'', '"', '`':
				s.quote = c
			}
			continue
		}
		j := i
		for j < len(p) && class[p[j]]&clSpecial == 0 {
			j++
		}
		if j == len(p) {
			return j
		}
		i = j + 1
		switch c := p[j]; c {
		case '(':
			s.depth++
		case ')':
			s.depth--
		default:
			s.quote = c
		}
	}
	return i
}

// skipQuote skips to the end of the quote s.quote, or of p.
func (s *Scanner) skipQuote(p []byte, i int) int {
	if s.esc {
		s.esc = false
		i++
	}
	q := s.quote
	if q == '`' { // no backslash escapes
		if j := bytes.IndexByte(p[min(i, len(p)):], q); j >= 0 {
			s.quote = 0
			return i + j + 1
		}
		return len(p)
	}
	qi := -1 // the index of the next q at or after i, or len(p) if none
	for i < len(p) {
		// Runs between quotes and escapes are mostly short: look at 32
		// bytes 8 at a time, and call on bytes.IndexByte past that.
		j := indexQuote(p[i:min(len(p), i+32)], q)
		if j < 0 {
			i = min(len(p), i+32)
			if i == len(p) {
				break
			}
			if qi < i { // searched once per quote, however many escapes
				if j := bytes.IndexByte(p[i:], q); j >= 0 {
					qi = i + j
				} else {
					qi = len(p)
				}
			}
			if j = bytes.IndexByte(p[i:qi], '\\'); j < 0 {
				j = qi - i
			}
		}
		i += j
		if i == len(p) {
			break
		}
		if p[i] == q {
			// A doubled quote closes this quote and opens the next at
			// once, which leaves the same state.
			s.quote = 0
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes
		if i > len(p) {
			s.esc = true
		}
	}
	return len(p)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// indexQuote returns the index of the first q or backslash in b, or -1,
// looking at 8 bytes at a time; it is meant for short b.
func indexQuote(b []byte, q byte) int {
	qs, bs := lsb*uint64(q), lsb*uint64('\\')
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		v, w := x^qs, x^bs
		// A byte of v or w is zero where x has q or a backslash; the
		// lowest flagged byte is always a true one.
		if t := (v-lsb)&^v&msb | (w-lsb)&^w&msb; t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == q || b[i] == '\\' {
			return i
		}
	}
	return -1
}

// Sections returns the sections seen so far in stream order; the last
// is the current one. The slice is the caller's.
func (s *Scanner) Sections() []Section {
	return append([]Section(nil), s.sections...)
}

// Current returns the section being streamed now: the last one started.
// It reports false before the first byte.
func (s *Scanner) Current() (Section, bool) {
	if len(s.sections) == 0 {
		return Section{}, false
	}
	return s.sections[len(s.sections)-1], true
}

// SectionAt returns the section holding the 1-based line, such as the
// line of a "ERROR 1146 (42S02) at line 52" from the mariadb client,
// which (10.11) names the first line of the failing statement. It
// reports false for a line not yet seen.
func (s *Scanner) SectionAt(line int64) (Section, bool) {
	if line < 1 || line > s.Lines() {
		return Section{}, false
	}
	k := sort.Search(len(s.sections), func(i int) bool { return s.sections[i].StartLine > line })
	if k == 0 {
		return Section{}, false
	}
	return s.sections[k-1], true
}

// Lines returns the number of lines seen: the newlines, plus one for a
// last line that has begun without its newline.
func (s *Scanner) Lines() int64 {
	if s.bytes > 0 && s.last != '\n' {
		return s.nl + 1
	}
	return s.nl
}

// Bytes returns the number of bytes written.
func (s *Scanner) Bytes() int64 { return s.bytes }

// Rows returns the number of rows counted in all data sections.
func (s *Scanner) Rows() int64 { return s.rows }

// Position returns the source's replication position as far as the
// stream has told it; see Position.
func (s *Scanner) Position() Position { return s.pos }
