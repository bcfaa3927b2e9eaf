package dumpscan

import (
	"bytes"
	"strconv"
)

// SectionKind tells what part of a dump a Section is.
type SectionKind int

// The kinds of section. Each kind but SectionOther starts at a header
// comment that mysqldump and mariadb-dump print on a line of its own
// (between two "--" lines, which are not needed). Triggers have no header: the dump tools print
// them right after the data (or, without data, the structure) of their
// table, so they fall in that table's section.
const (
	// SectionOther is the preamble before the first header: the dump's
	// banner, session settings and, with --master-data, the binlog
	// position.
	SectionOther SectionKind = iota
	// SectionTableStructure: "-- Table structure for table `t`".
	SectionTableStructure
	// SectionTableData: "-- Dumping data for table `t`". Only rows of
	// these sections are counted.
	SectionTableData
	// SectionViewStub: "-- Temporary table structure for view `v`" (newer
	// MySQL: "-- Temporary view structure for view `v`"), the
	// placeholder created before the tables so that views can refer to
	// each other.
	SectionViewStub
	// SectionView: "-- Final view structure for view `v`".
	SectionView
	// SectionRoutines: "-- Dumping routines for database 'd'"; Name is the
	// database.
	SectionRoutines
	// SectionEvents: "-- Dumping events for database 'd'"; Name is the
	// database.
	SectionEvents
	// SectionDatabase: "-- Current Database: `d`", printed with
	// --databases or --all-databases before the CREATE DATABASE and USE
	// statements; Name is the database.
	SectionDatabase
)

var kindNames = [...]string{
	SectionOther:          "other",
	SectionTableStructure: "table structure",
	SectionTableData:      "table data",
	SectionViewStub:       "view stub",
	SectionView:           "view",
	SectionRoutines:       "routines",
	SectionEvents:         "events",
	SectionDatabase:       "database",
}

// String returns a short lower-case description, such as "table data".
func (k SectionKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "SectionKind(" + strconv.Itoa(int(k)) + ")"
}

// Section is one part of a dump, from its header line up to the next
// header.
type Section struct {
	Kind SectionKind
	// Name is the unquoted table or view name (a doubled backtick within
	// it undone), or the database name for SectionRoutines,
	// SectionEvents and SectionDatabase. It is empty for the preamble.
	Name string
	// StartLine is the 1-based line number of the "-- ..." header line
	// (1 for the preamble).
	StartLine int64
	// Rows is the number of rows inserted in this section so far; it is
	// only ever non-zero for SectionTableData.
	Rows int64
}

// headers are the section header comments, without their leading "-- ".
var headers = [...]struct {
	prefix string
	kind   SectionKind
}{
	{"Table structure for table ", SectionTableStructure},
	{"Dumping data for table ", SectionTableData},
	{"Temporary table structure for view ", SectionViewStub},
	{"Temporary view structure for view ", SectionViewStub},
	{"Final view structure for view ", SectionView},
	{"Dumping routines for database ", SectionRoutines},
	{"Dumping events for database ", SectionEvents},
	{"Current Database: ", SectionDatabase},
}

// header recognizes a section header comment, given the text after its
// "-- ", and reports whether it was one.
func (s *Scanner) header(rest []byte) bool {
	for _, h := range headers {
		if bytes.HasPrefix(rest, []byte(h.prefix)) {
			s.addSection(Section{Kind: h.kind, Name: unquoteName(rest[len(h.prefix):]), StartLine: s.lineNo})
			return true
		}
	}
	return false
}

// addSection appends sec; it replaces an empty preamble, which is when
// the dump starts with a header.
func (s *Scanner) addSection(sec Section) {
	if n := len(s.sections); n > 0 && s.sections[n-1].StartLine == sec.StartLine {
		s.sections[n-1] = sec
		return
	}
	s.sections = append(s.sections, sec)
}

// unquoteName undoes the quoting of a name as the dump tools print it in
// a header: `name` with doubled backticks, "name" with doubled double
// quotes (ANSI mode), 'name' verbatim (databases), or bare
// (--skip-quote-names).
func unquoteName(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	switch q := b[0]; q {
	case '`', '"':
		out := make([]byte, 0, len(b))
		for i := 1; i < len(b); i++ {
			if b[i] == q {
				if i+1 < len(b) && b[i+1] == q {
					out = append(out, q)
					i++
					continue
				}
				break
			}
			out = append(out, b[i])
		}
		return string(out)
	case '\'':
		if j := bytes.LastIndexByte(b, '\''); j > 0 {
			return string(b[1:j])
		}
		return string(b[1:])
	}
	return string(b)
}
