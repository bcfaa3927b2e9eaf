package dumpscan

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// result is everything a Scanner tells after a stream.
type result struct {
	Sections   []Section
	Current    Section
	HasCurrent bool
	Lines      int64
	Bytes      int64
	Rows       int64
	Position   Position
}

func resultOf(s *Scanner) result {
	cur, ok := s.Current()
	return result{
		Sections: s.Sections(), Current: cur, HasCurrent: ok,
		Lines: s.Lines(), Bytes: s.Bytes(), Rows: s.Rows(), Position: s.Position(),
	}
}

// scanChunks writes the chunks to a new Scanner.
func scanChunks(chunks [][]byte) (*Scanner, result) {
	s := New()
	for _, c := range chunks {
		n, err := s.Write(c)
		if n != len(c) || err != nil {
			panic(fmt.Sprintf("Write returned %d, %v for %d bytes", n, err, len(c)))
		}
	}
	return s, resultOf(s)
}

// chunkings splits data in one piece, one byte at a time, and at random.
func chunkings(data []byte) map[string][][]byte {
	m := map[string][][]byte{"whole": {data}}
	var bytewise [][]byte
	for i := range data {
		bytewise = append(bytewise, data[i:i+1])
	}
	m["bytewise"] = bytewise
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		var cs [][]byte
		for rest := data; len(rest) > 0; {
			n := 1 + r.IntN(min(len(rest), []int{3, 20, 300, 5000}[seed%4]))
			// Copy, so that a scanner keeping a chunk would be caught.
			cs = append(cs, append([]byte(nil), rest[:n]...))
			rest = rest[n:]
		}
		m[fmt.Sprintf("random-%d", seed)] = cs
	}
	return m
}

// scanAll scans data in every chunking, requires that they agree, and
// returns the scanner of the single Write.
func scanAll(t *testing.T, data []byte) *Scanner {
	t.Helper()
	whole, want := scanChunks([][]byte{data})
	for name, cs := range chunkings(data) {
		_, got := scanChunks(cs)
		if !equal(t, want, got, "chunking %s differs from a single Write", name) {
			t.FailNow()
		}
	}
	return whole
}

// dump joins lines, each ended by a newline.
func dump(lines ...string) string {
	return strings.Join(lines, "\n") + "\n"
}

func pre() Section { return Section{Kind: SectionOther, StartLine: 1} }

func data(name string, line, rows int64) Section {
	return Section{Kind: SectionTableData, Name: name, StartLine: line, Rows: rows}
}

func structure(name string, line int64) Section {
	return Section{Kind: SectionTableStructure, Name: name, StartLine: line}
}

// scannerCase is a dump fragment and what a scanner should tell of it.
type scannerCase struct {
	name     string
	in       string
	sections []Section
	rows     int64
	pos      Position
	lines    int64 // checked when non-zero
}

func scannerCases() []scannerCase {
	long := strings.Repeat("x", maxLine)
	manyRows := strings.Repeat("(1,'a;b'),", 20000)
	return []scannerCase{
		{
			name: "mariadb rows on their own lines",
			in: dump(
				"-- MariaDB dump 10.19",
				"--",
				"-- Dumping data for table `t`",
				"--",
				"",
				"LOCK TABLES `t` WRITE;",
				"INSERT INTO `t` VALUES",
				"(1,'a'),",
				"(2,'b (c); VALUES -- d'),",
				`(3,'it\'s ''q'' \"x\" \\'),`,
				"(4,'tab\tnul\x00 ) raw',NULL,0x00FF,-1.5e3),",
				`(5,"dq ' \" "" ( ;");`,
				"UNLOCK TABLES;",
			),
			sections: []Section{pre(), data("t", 3, 5)},
			rows:     5,
			lines:    13,
		},
		{
			name:     "mysql rows on one line",
			in:       dump("-- Dumping data for table `t`", "INSERT INTO `t` VALUES (1,'a'),(2,'(b'),(3,')c'),(4,'d;');"),
			sections: []Section{data("t", 1, 4)},
			rows:     4,
		},
		{
			name: "complete insert column list is not a row",
			in: dump(
				"-- Dumping data for table `t`",
				"INSERT INTO `t` (`id`, `name`) VALUES (1,'a'),(2,'b');",
				"INSERT INTO `t` (`id`, `name`) VALUES",
				"(3,'c'),",
				"(4,'d');",
				"INSERT INTO `VALUES` (`(`, `VALUES`, `a``)b`) VALUES (5,'VALUES',')');",
				"INSERT INTO t (id, values_x) VALUES (6,'x');",
			),
			sections: []Section{data("t", 1, 6)},
			rows:     6,
		},
		{
			name: "insert forms",
			in: dump(
				"-- Dumping data for table `t`",
				"INSERT IGNORE INTO `t` VALUES (1);",
				"REPLACE INTO `t` VALUES (2),(3);",
				"insert into t values (4);",
				"Insert Ignore Into t Values(5);",
				"INSERT INTO t VALUE (6);",
				"INSERT INTO myvalues VALUES (7);",
				"INSERT INTO valuesx VALUES (8);",
				"INSERT INTO `t` VALUES (9);INSERT INTO `t` VALUES (99);",
			),
			sections: []Section{data("t", 1, 9)},
			rows:     9,
		},
		{
			name: "skip-extended-insert",
			in: dump(
				"-- Dumping data for table `t`",
				"INSERT INTO `t` VALUES (1,'a');",
				"INSERT INTO `t` VALUES (2,'b');",
				"INSERT INTO `t` VALUES (3,'c');",
			),
			sections: []Section{data("t", 1, 3)},
			rows:     3,
		},
		{
			name: "statements that are not counted",
			in: dump(
				"-- Dumping data for table `t`",
				" INSERT INTO t VALUES (1);",
				"/*!40000 INSERT INTO t VALUES (1) */;",
				"INSERT INTO t SELECT * FROM u WHERE a IN (1,2) AND b = 'VALUES (';",
				"INSERT DELAYED INTO t VALUES (1);",
				"INSERTINTO t VALUES (1);",
				"SELECT 1; INSERT INTO t VALUES (1);",
				"INSERT INTO t VALUES (7);",
			),
			sections: []Section{data("t", 1, 1)},
			rows:     1,
		},
		{
			name: "raw newlines inside quotes",
			in: dump(
				"-- Dumping data for table `t`",
				"INSERT INTO `t` VALUES (1,'line",
				"--",
				"-- Dumping data for table `fake`",
				"--",
				"INSERT INTO `t` VALUES (9);",
				"DELIMITER ;;",
				"'),(2,\"dq",
				"-- CHANGE MASTER TO MASTER_LOG_FILE='x', MASTER_LOG_POS=1;",
				"\"),(3,`bt",
				"(`);",
				"INSERT INTO `t` VALUES (4);",
			),
			sections: []Section{data("t", 1, 4)},
			rows:     4,
			lines:    12,
		},
		{
			name: "quoted names",
			in: dump(
				"-- Table structure for table `a``b(`",
				"-- Dumping data for table `a``b(`",
				"INSERT INTO `a``b(` VALUES (1);",
				"-- Dumping data for table \"ansi\"\"q\"",
				"INSERT INTO \"ansi\"\"q\" VALUES (1),(2);",
				"-- Dumping data for table bare",
				"INSERT INTO bare VALUES (1),(2),(3);",
				"-- Dumping routines for database 'it's'",
			),
			sections: []Section{
				structure("a`b(", 1), data("a`b(", 2, 1), data(`ansi"q`, 4, 2), data("bare", 6, 3),
				{Kind: SectionRoutines, Name: "it's", StartLine: 8},
			},
			rows: 6,
		},
		{
			name: "every header",
			in: dump(
				"/*M!999999\\- enable the sandbox mode */ ",
				"-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB",
				"--",
				"-- Current Database: `shop`",
				"--",
				"-- Table structure for table `t`",
				"-- Dumping data for table `t`",
				"-- Temporary table structure for view `v`",
				"-- Temporary view structure for view `v2`",
				"-- Dumping events for database 'shop'",
				"-- Dumping routines for database 'shop'",
				"-- Final view structure for view `v`",
				"-- Dumping data for table `t` ",
				"-- Table structure for table `t` extra",
				"--Table structure for table `nospace`",
				"-- table structure for table `lower`",
				"-- Dump completed on 2026-11-22  4:45:49",
			),
			sections: []Section{
				pre(),
				{Kind: SectionDatabase, Name: "shop", StartLine: 4},
				structure("t", 6),
				data("t", 7, 0),
				{Kind: SectionViewStub, Name: "v", StartLine: 8},
				{Kind: SectionViewStub, Name: "v2", StartLine: 9},
				{Kind: SectionEvents, Name: "shop", StartLine: 10},
				{Kind: SectionRoutines, Name: "shop", StartLine: 11},
				{Kind: SectionView, Name: "v", StartLine: 12},
				data("t", 13, 0),
				structure("t", 14),
			},
		},
		{
			name: "delimiter blocks",
			in: dump(
				"--",
				"-- Dumping data for table `t`",
				"--",
				"INSERT INTO `t` VALUES (1);",
				"DELIMITER ;;",
				"/*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW BEGIN INSERT INTO audit VALUES (1); END */;;",
				"INSERT INTO audit VALUES (2),(3);;",
				"--",
				"-- Table structure for table `evil`",
				"--",
				"-- SET GLOBAL gtid_slave_pos='0-1-1';",
				"CHANGE MASTER TO MASTER_LOG_FILE='evil', MASTER_LOG_POS=1;",
				"DELIMITER ;",
				"INSERT INTO `t` VALUES (4);",
				"delimiter $$",
				"INSERT INTO `t` VALUES ('",
				"delimiter ;",
				"INSERT INTO `t` VALUES (5);",
			),
			sections: []Section{pre(), data("t", 2, 3)},
			rows:     3,
		},
		{
			name: "rows only in data sections",
			in: dump(
				"INSERT INTO `t` VALUES (1);",
				"--",
				"-- Table structure for table `t`",
				"--",
				"INSERT INTO `t` VALUES (1,'",
				"-- Dumping data for table `t`",
				"');",
				"-- Final view structure for view `v`",
				"INSERT INTO `t` VALUES (2);",
				"-- Dumping data for table `t`",
				"INSERT INTO `t` VALUES (3),(4);",
			),
			sections: []Section{pre(), structure("t", 3), {Kind: SectionView, Name: "v", StartLine: 8}, data("t", 10, 2)},
			rows:     2,
		},
		{
			name: "mariadb position commented",
			in: dump(
				"-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;",
				"",
				"-- CHANGE MASTER TO MASTER_LOG_FILE='bin.000001', MASTER_LOG_POS=1333;",
				"-- Dumping data for table `t`",
				"INSERT INTO t VALUES ('",
				"-- SET GLOBAL gtid_slave_pos='9-9-9';",
				"');",
				"-- SET GLOBAL gtid_slave_pos='0-7-5';",
			),
			sections: []Section{pre(), data("t", 4, 1)},
			rows:     1,
			pos:      Position{File: "bin.000001", Pos: 1333, GTID: "0-7-5"},
		},
		{
			name: "mariadb position live",
			in: dump(
				"CHANGE MASTER TO MASTER_USE_GTID=slave_pos;",
				"CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000042', MASTER_LOG_POS=4;",
				"CHANGE MASTER TO MASTER_LOG_FILE='second.000001', MASTER_LOG_POS=9;",
				"SET @saved_cs_client     = @@character_set_client;",
				"SET GLOBAL gtid_slave_pos = '0-7-5,1-8-100';",
				"SET GLOBAL gtid_slave_pos='2-2-2';",
			),
			sections: []Section{pre()},
			pos:      Position{File: "mariadb-bin.000042", Pos: 4, GTID: "0-7-5,1-8-100"},
		},
		{
			name: "mysql 8 position over several lines",
			in: dump(
				"SET @@SESSION.SQL_LOG_BIN= 0;",
				"",
				"--",
				"-- GTID state at the beginning of the backup ",
				"--",
				"",
				"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '300ca9ea-4369-11eb-a19a-00163e0879f0:1-7125653,",
				"4491380c-5966-11ec-b318-005056afa0b8:1-8500511,",
				"a491380c-5966-11ec-b318-005056afa0b8:1-3';",
				"",
				"--",
				"-- Position to start replication or point-in-time recovery from",
				"--",
				"",
				"-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157;",
			),
			sections: []Section{pre()},
			pos: Position{File: "binlog.000002", Pos: 157, GTID: "300ca9ea-4369-11eb-a19a-00163e0879f0:1-7125653," +
				"4491380c-5966-11ec-b318-005056afa0b8:1-8500511,a491380c-5966-11ec-b318-005056afa0b8:1-3"},
		},
		{
			name: "mysql commented gtid and old change master",
			in: dump(
				"/* SET @@GLOBAL.GTID_PURGED='+d84f56fa-12eb-11f1-936e-08002719c604:1-184';*/",
				"CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=73;",
			),
			sections: []Section{pre()},
			pos:      Position{File: "mysql-bin.000003", Pos: 73, GTID: "d84f56fa-12eb-11f1-936e-08002719c604:1-184"},
		},
		{
			name:     "mysql empty gtid",
			in:       dump("SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '';", "SET @@GLOBAL.GTID_PURGED='u:1';"),
			sections: []Section{pre()},
		},
		{
			name: "unclosed gtid gives way to the next statement",
			in: dump(
				"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'u:1-5,",
				"--",
				"-- Dumping data for table `t`",
				"INSERT INTO `t` VALUES (1);",
				"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'v:1-5,",
				"INSERT INTO `t` VALUES (2);",
				"SET @@GLOBAL.GTID_PURGED='w:1-5,",
				"x:1-2';",
			),
			sections: []Section{pre(), data("t", 3, 2)},
			rows:     2,
			pos:      Position{GTID: "w:1-5,x:1-2"},
		},
		{
			name: "crlf",
			in: strings.ReplaceAll(dump(
				"-- CHANGE MASTER TO MASTER_LOG_FILE='bin.000001', MASTER_LOG_POS=1333;",
				"--",
				"-- Dumping data for table `t`",
				"--",
				"INSERT INTO `t` VALUES",
				"(1,'a'),",
				"(2,'b');",
				"SET @@GLOBAL.GTID_PURGED='u:1-5,",
				"v:1-2';",
			), "\n", "\r\n"),
			sections: []Section{pre(), data("t", 3, 2)},
			rows:     2,
			pos:      Position{File: "bin.000001", Pos: 1333, GTID: "u:1-5,v:1-2"},
			lines:    9,
		},
		{
			name: "overlong lines",
			in: dump(
				"-- Table structure for table `x`"+long,
				"SET GLOBAL gtid_slave_pos='0-1-2';"+long,
				"SET @@GLOBAL.GTID_PURGED='u:1-5,",
				long,
				"v:1';",
				"-- Dumping data for table `t`",
				"INSERT INTO `t` VALUES "+manyRows+"(2,'"+long+"');",
				"-- Dumping data for table `u`",
			),
			sections: []Section{pre(), data("t", 6, 20001), data("u", 8, 0)},
			rows:     20001,
		},
		{
			name: "gtid set filling the line buffer",
			in: dump(
				"SET @@GLOBAL.GTID_PURGED='"+long[:maxLine-len("SET @@GLOBAL.GTID_PURGED='")],
				"v';",
				"SET @@GLOBAL.GTID_PURGED='"+long[:maxLine-len("SET @@GLOBAL.GTID_PURGED='")-1],
				"",
				"",
				"'",
				"SET @@GLOBAL.GTID_PURGED='u:1-5,",
				"v:1';",
			),
			sections: []Section{pre()},
			pos:      Position{GTID: "u:1-5,v:1"},
		},
		{
			name: "backslash before the end of a quote",
			in: dump(
				"-- Dumping data for table `t`",
				`INSERT INTO t VALUES ('\\'),('\''),('\\\''),(1);`,
				"INSERT INTO t VALUES (`\\`),(\"\\\\\"),(2);",
			),
			sections: []Section{data("t", 1, 7)},
			rows:     7,
		},
		{
			name:     "stream cut within a statement",
			in:       "-- Dumping data for table `t`\nINSERT INTO `t` VALUES\n(1,'a'),\n(2,'b",
			sections: []Section{data("t", 1, 2)},
			rows:     2,
			lines:    4,
		},
		{
			name:     "last line without newline is not interpreted",
			in:       "SET GLOBAL gtid_slave_pos='0-1-2';\n-- Dumping data for table `t`",
			sections: []Section{pre()},
			pos:      Position{GTID: "0-1-2"},
			lines:    2,
		},
	}
}

// TestScanner runs each case in one Write, one byte at a time, and in
// chunks of random sizes.
func TestScanner(t *testing.T) {
	for _, tt := range scannerCases() {
		t.Run(tt.name, func(t *testing.T) {
			s := scanAll(t, []byte(tt.in))
			r := resultOf(s)
			equal(t, tt.sections, r.Sections)
			equal(t, tt.rows, r.Rows)
			equal(t, tt.pos, r.Position)
			equal(t, int64(len(tt.in)), r.Bytes)
			if tt.lines != 0 {
				equal(t, tt.lines, r.Lines)
			}
			check(t, r.HasCurrent, "HasCurrent")
			equal(t, tt.sections[len(tt.sections)-1], r.Current)
			var sum int64
			for _, sec := range r.Sections {
				sum += sec.Rows
			}
			equal(t, r.Rows, sum)
		})
	}
}

func TestEmpty(t *testing.T) {
	s := New()
	n, err := s.Write(nil)
	check(t, n == 0 && err == nil, "Write(nil) = %d, %v", n, err)
	_, ok := s.Current()
	check(t, !ok, "Current")
	_, ok = s.SectionAt(1)
	check(t, !ok, "SectionAt")
	equal(t, result{}, resultOf(s))
}

func TestLines(t *testing.T) {
	for in, want := range map[string]int64{"a": 1, "a\n": 1, "a\nb": 2, "\n\n": 2, "a\r\nb\r\n": 2} {
		s := scanAll(t, []byte(in))
		equal(t, want, s.Lines(), "%q", in)
	}
}

func TestSectionAt(t *testing.T) {
	in := dump(
		"-- MariaDB dump",                  // 1
		"--",                               // 2
		"-- Table structure for table `t`", // 3
		"--",                               // 4
		"CREATE TABLE `t` (a int);",        // 5
		"--",                               // 6
		"-- Dumping data for table `t`",    // 7
		"--",                               // 8
		"INSERT INTO `t` VALUES",           // 9
		"(1),",                             // 10
		"(2);",                             // 11
	)
	s := scanAll(t, []byte(in))
	want := map[int64]Section{
		1: pre(), 2: pre(),
		3: structure("t", 3), 6: structure("t", 3),
		7: data("t", 7, 2), 9: data("t", 7, 2), 11: data("t", 7, 2),
	}
	for line, sec := range want {
		got, ok := s.SectionAt(line)
		check(t, ok, "line %d", line)
		equal(t, sec, got, "line %d", line)
	}
	for _, line := range []int64{-1, 0, 12, 100} {
		_, ok := s.SectionAt(line)
		check(t, !ok, "line %d", line)
	}
	// A partial last line is seen.
	_, _ = s.Write([]byte("UNLOCK"))
	got, ok := s.SectionAt(12)
	check(t, ok)
	equal(t, data("t", 7, 2), got)
}

func TestSectionsIsACopy(t *testing.T) {
	s := New()
	_, _ = s.Write([]byte("-- Dumping data for table `t`\nINSERT INTO t VALUES (1);\n"))
	secs := s.Sections()
	secs[0].Rows = 100
	cur, _ := s.Current()
	equal(t, int64(1), cur.Rows)
}

func TestSectionKindString(t *testing.T) {
	equal(t, "table data", SectionTableData.String())
	equal(t, "other", SectionOther.String())
	equal(t, "database", SectionDatabase.String())
	equal(t, "SectionKind(99)", SectionKind(99).String())
	equal(t, "SectionKind(-1)", SectionKind(-1).String())
}

// TestBoundedMemory checks that a scanner does not grow with a stream
// of long lines, quotes and statements.
func TestBoundedMemory(t *testing.T) {
	s := New()
	chunk := bytes.Repeat([]byte("-- "+strings.Repeat("y", 1000)), 100)
	for range 200 { // a 20 MB comment line
		_, _ = s.Write(chunk)
	}
	_, _ = s.Write([]byte("\nINSERT INTO t VALUES ('"))
	for range 200 { // a 20 MB string
		_, _ = s.Write(chunk)
	}
	check(t, cap(s.buf) <= 2*maxLine, "buffer of %d bytes", cap(s.buf))
	equal(t, 1, len(s.Sections()))
}

// TestRealDump checks the output of a real mariadb-dump 10.11. The files
// in testdata were produced from a throwaway MariaDB 10.11.19 server
// (mariadbd --log-bin --binlog-format=ROW --server-id=9) holding a
// database shop with tables `VALUES`, audit, empty_t, items, many and
// `we“ird`, a view cheap, a trigger on items whose body inserts into
// audit, procedures add_item and evil whose bodies insert rows, and an
// event purge_audit:
//
//	mariadb-dump --routines --events --triggers --master-data=2 --gtid \
//	    --single-transaction --databases shop >testdata/mariadb-10.11.sql
//	mariadb-dump --routines --events --triggers --master-data=1 --gtid \
//	    --single-transaction --skip-extended-insert --complete-insert \
//	    --insert-ignore shop >testdata/mariadb-10.11-skip-extended.sql
//
// Table many has 120 rows, some of whose strings hold an escaped newline
// followed by a header and an INSERT, and some end in a backslash.
func TestRealDump(t *testing.T) {
	tables := []struct {
		name string
		rows int64
	}{{"VALUES", 3}, {"audit", 0}, {"empty_t", 0}, {"items", 4}, {"many", 120}, {"we`ird", 3}}
	pos := Position{File: "bin.000001", Pos: 17812, GTID: "0-9-60"}
	for _, tc := range []struct {
		file      string
		databases bool
	}{{"testdata/mariadb-10.11.sql", true}, {"testdata/mariadb-10.11-skip-extended.sql", false}} {
		t.Run(tc.file, func(t *testing.T) {
			in := readFile(t, tc.file)
			s := scanAll(t, in)
			r := resultOf(s)
			equal(t, pos, r.Position)
			equal(t, int64(bytes.Count(in, []byte("\n"))), r.Lines)
			equal(t, int64(130), r.Rows)

			lines := bytes.Split(in, []byte("\n"))
			var kinds []string
			for _, sec := range r.Sections {
				kinds = append(kinds, sec.Kind.String()+" "+sec.Name)
				if sec.StartLine > 1 {
					check(t, bytes.HasPrefix(lines[sec.StartLine-1], []byte("-- ")), "line %d", sec.StartLine)
				}
			}
			want := []string{"other "}
			if tc.databases {
				want = append(want, "database shop")
			}
			var got []Section
			for _, tb := range tables {
				want = append(want, "table structure "+tb.name, "table data "+tb.name)
				if tb.name == "audit" {
					want = append(want, "view stub cheap")
				}
			}
			want = append(want, "events shop", "routines shop")
			if tc.databases {
				want = append(want, "database shop")
			}
			want = append(want, "view cheap")
			equal(t, want, kinds)
			for _, sec := range r.Sections {
				if sec.Kind == SectionTableData {
					got = append(got, sec)
				}
			}
			if !equal(t, len(tables), len(got)) {
				return
			}
			for i, tb := range tables {
				equal(t, tb.rows, got[i].Rows, tb.name)
			}

			// The mariadb client reports an error in a statement at the
			// statement's first line; map each INSERT's line back.
			for i, l := range lines {
				if bytes.HasPrefix(l, []byte("INSERT ")) {
					sec, ok := s.SectionAt(int64(i + 1))
					check(t, ok, "line %d", i+1)
					if sec.Kind == SectionRoutines {
						continue // the body of procedure evil
					}
					name := string(bytes.Split(l, []byte("`"))[1])
					if name == "we" {
						name = "we`ird"
					}
					equal(t, SectionTableData, sec.Kind, "line %d", i+1)
					equal(t, name, sec.Name, "line %d", i+1)
				}
			}
		})
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
