package review

import (
	"strings"
	"unicode/utf8"
)

// Position is a place in a script. Line and Column count from 1; Column
// counts characters (not bytes) from the start of the line. Offset is the
// byte offset from the start of the script, counting from 0.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Offset int `json:"offset"`
}

// piece is one statement cut out of a script.
type piece struct {
	text  string   // the statement, without its delimiter and surrounding blanks
	pos   Position // where text starts
	delim string   // the delimiter in force (";" unless DELIMITER changed it)
	// execs are the executable comments in text, offsets relative to text.
	execs []execComment
}

// splitter cuts a script into statements the way the mysql command-line
// client does: it honours quotes, comments and DELIMITER commands, and
// tracks the position of each statement.
type splitter struct {
	src       string
	i         int // next byte to read
	line      int // line of src[i]
	lineStart int // offset of the first byte of that line
	delim     string
}

func newSplitter(src string) *splitter {
	return &splitter{src: src, line: 1, delim: ";"}
}

// pos returns the position of offset off, which must be on the current line
// or after the current line start.
func (s *splitter) pos(off int) Position {
	return Position{Line: s.line, Column: utf8.RuneCountInString(s.src[s.lineStart:off]) + 1, Offset: off}
}

// advance moves s.i to off, counting the newlines passed.
func (s *splitter) advance(off int) {
	for j := s.i; j < off; j++ {
		if s.src[j] == '\n' {
			s.line++
			s.lineStart = j + 1
		}
	}
	s.i = off
}

// skipBlank moves past whitespace and plain comments (not /*!, /*M! or /*+
// ones, which the server executes or reads as hints).
func (s *splitter) skipBlank() {
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.advance(s.i + 1)
		case c == '#', c == '-' && isDashComment(s.src, s.i):
			s.advance(lineEnd(s.src, s.i))
		case c == '/' && s.i+1 < len(s.src) && s.src[s.i+1] == '*' && !isCodeComment(s.src, s.i):
			s.advance(commentEnd(s.src, s.i))
		default:
			return
		}
	}
}

// next returns the next statement, or false at the end of the script.
func (s *splitter) next() (piece, bool) {
	for {
		s.skipBlank()
		if s.i >= len(s.src) {
			return piece{}, false
		}
		if d, end, ok := delimiterCommand(s.src, s.i); ok {
			if d != "" {
				s.delim = d
			}
			s.advance(end)
			continue
		}
		if strings.HasPrefix(s.src[s.i:], s.delim) {
			// An empty statement: a lone delimiter.
			s.advance(s.i + len(s.delim))
			continue
		}
		start := s.pos(s.i)
		end, next, execs := s.scanStatement()
		text := strings.TrimRight(s.src[start.Offset:end], " \t\r\n\f\v")
		s.advance(next)
		for i := range execs {
			execs[i].shift(-start.Offset, len(text))
		}
		return piece{text: text, pos: start, delim: s.delim, execs: execs}, true
	}
}

// scanStatement finds the end of the statement starting at s.i: the offset
// of its delimiter (or of the script's end) and the offset after the
// delimiter, and the executable comments on the way (offsets in s.src).
// Like the mysql client, it reads the inside of an executable comment as
// code: quotes count, and a delimiter there ends the statement. It does
// not move s.i.
//
// A statement that creates a stored program with the ; delimiter in
// force (no DELIMITER line) ends at the first ; outside its BEGIN ... END
// and CASE ... END blocks, as the server reads it.
func (s *splitter) scanStatement() (end, next int, execs []execComment) {
	src, d := s.src, s.delim
	d0 := d[0]
	open := -1 // index in execs of the executable comment we are in
	compound := d == ";" && isCompoundStart(src, s.i)
	depth := 0 // of the compound statement's blocks
	for j := s.i; j < len(src); {
		c := src[j]
		if c == d0 && depth == 0 && strings.HasPrefix(src[j:], d) {
			return j, j + len(d), execs
		}
		if compound && isWordByte(c) && (j == 0 || !isWordByte(src[j-1])) {
			k := j + 1
			for k < len(src) && isWordByte(src[k]) {
				k++
			}
			switch w := src[j:k]; {
			case strings.EqualFold(w, "BEGIN"), strings.EqualFold(w, "CASE"):
				depth++
			case strings.EqualFold(w, "END"):
				var closes bool
				closes, k = afterEnd(src, k)
				if closes && depth > 0 {
					depth--
				}
			}
			j = k
			continue
		}
		switch c {
		case '\'', '"', '`':
			j = quoteEnd(src, j)
		case '#':
			j = lineEnd(src, j)
		case '-':
			if isDashComment(src, j) {
				j = lineEnd(src, j)
			} else {
				j++
			}
		case '/':
			switch {
			case j+1 >= len(src) || src[j+1] != '*':
				j++
			case open < 0 && isExecComment(src, j):
				execs = append(execs, readExecMarker(src, j))
				open = len(execs) - 1
				j = execs[open].body
			default:
				end := commentEnd(src, j)
				if isTiDBComment(src, j) {
					c := execComment{open: j, body: j + 4, close: -1, tidb: true}
					if end-2 >= c.body && src[end-2:end] == "*/" {
						c.close = end - 2
					}
					execs = append(execs, c)
				}
				j = end
			}
		case '*':
			if open >= 0 && j+1 < len(src) && src[j+1] == '/' {
				execs[open].close = j
				open = -1
				j += 2
			} else {
				j++
			}
		default:
			j++
		}
	}
	return len(src), len(src), execs
}

// quoteEnd returns the offset after the quoted string or identifier that
// starts at src[i]. Backslash escapes apply inside ” and "" strings; a
// doubled quote stands for itself. An unterminated quote runs to the end.
func quoteEnd(src string, i int) int {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(src) && src[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(src)
}

// isDashComment reports whether src[i:] starts a "-- " comment: two dashes
// followed by a blank, a control character or the end of the script.
func isDashComment(src string, i int) bool {
	if i+1 >= len(src) || src[i+1] != '-' {
		return false
	}
	return i+2 == len(src) || src[i+2] <= ' '
}

// isCodeComment reports whether the comment at src[i] is /*! ... */,
// /*M! ... */ or /*+ ... */, which are part of the statement.
func isCodeComment(src string, i int) bool {
	return isExecComment(src, i) || i+2 < len(src) && src[i+2] == '+'
}

// lineEnd returns the offset of the newline ending the line that holds
// src[i], or the script's length.
func lineEnd(src string, i int) int {
	if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}

// commentEnd returns the offset after the /* comment starting at src[i].
func commentEnd(src string, i int) int {
	if j := strings.Index(src[i+2:], "*/"); j >= 0 {
		return i + 2 + j + 2
	}
	return len(src)
}

// delimiterCommand recognises the client command "DELIMITER x" at src[i]:
// it returns the new delimiter (the first word after the command, "" if
// none) and the offset of the end of the line.
func delimiterCommand(src string, i int) (string, int, bool) {
	const kw = "delimiter"
	if len(src)-i < len(kw)+1 || !strings.EqualFold(src[i:i+len(kw)], kw) {
		return "", 0, false
	}
	if c := src[i+len(kw)]; c != ' ' && c != '\t' {
		return "", 0, false
	}
	end := lineEnd(src, i)
	fields := strings.Fields(src[i+len(kw) : end])
	if len(fields) == 0 {
		return "", end, true
	}
	return fields[0], end, true
}
