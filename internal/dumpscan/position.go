package dumpscan

import (
	"bytes"
	"strconv"
)

// Position is the source's replication position as the dump printed it
// with --master-data (MySQL 8: --source-data), --dump-slave and --gtid;
// the statements are recognized both commented out with "-- " (=2) and
// live (=1). Each field is zero when the dump did not carry it. When a
// dump prints more than one, the first wins.
type Position struct {
	// File and Pos come from "CHANGE MASTER TO MASTER_LOG_FILE='f',
	// MASTER_LOG_POS=n" (MySQL 8: "CHANGE REPLICATION SOURCE TO
	// SOURCE_LOG_FILE='f', SOURCE_LOG_POS=n").
	File string
	Pos  uint64
	// GTID is MariaDB's "SET GLOBAL gtid_slave_pos='0-1-5,1-2-9'", or
	// MySQL's "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-5,...'"
	// (also in its "/* SET ... */" form), without whitespace, so a MySQL
	// set spread over several lines comes out on one, and without a
	// leading "+".
	GTID string
}

// position takes the replication position from a CHANGE or SET line (its
// "-- " or "/* " already removed). A SET of a GTID set whose quote is not
// closed on this line asks for the following lines with s.cont.
func (s *Scanner) position(line []byte) {
	switch {
	case hasPrefixFold(line, "CHANGE "):
		if s.fileSet {
			return
		}
		file, ok, _ := valueOf(line, "MASTER_LOG_FILE")
		posKey := "MASTER_LOG_POS"
		if !ok {
			file, ok, _ = valueOf(line, "SOURCE_LOG_FILE")
			posKey = "SOURCE_LOG_POS"
		}
		if !ok {
			return
		}
		s.fileSet = true
		s.pos.File = string(file)
		if v, ok, _ := valueOf(line, posKey); ok {
			if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
				s.pos.Pos = n
			}
		}
	case hasPrefixFold(line, "SET "):
		if s.gtidSet {
			return
		}
		v, ok, open := valueOf(line, "GTID_SLAVE_POS")
		if !ok && !open {
			v, ok, open = valueOf(line, "GTID_PURGED")
		}
		if open {
			s.cont = true
			return
		}
		if !ok {
			return
		}
		s.gtidSet = true
		g := make([]byte, 0, len(v))
		for _, c := range v {
			switch c {
			case ' ', '\t', '\r', '\n':
			default:
				g = append(g, c)
			}
		}
		s.pos.GTID = string(bytes.TrimPrefix(g, []byte("+")))
	}
}

// valueOf finds "key = value" in line, case-insensitively, skipping
// /* */ comments before the value, and returns the value: the inside of
// a '...' or "..." quote, or else the bare word up to a space, comma or
// semicolon. open reports a quote or comment left unclosed at the end of
// line.
func valueOf(line []byte, key string) (v []byte, ok, open bool) {
	i := indexFold(line, key)
	if i < 0 {
		return nil, false, false
	}
	j := skipSpace(line, i+len(key))
	if j >= len(line) || line[j] != '=' {
		return nil, false, false
	}
	for {
		j = skipSpace(line, j+1)
		if !bytes.HasPrefix(line[j:], []byte("/*")) {
			break
		}
		k := bytes.Index(line[j+2:], []byte("*/"))
		if k < 0 {
			return nil, false, true
		}
		j += 2 + k + 1 // at the '/' closing the comment
	}
	if j >= len(line) {
		return nil, false, true
	}
	if q := line[j]; q == '\'' || q == '"' {
		k := bytes.IndexByte(line[j+1:], q)
		if k < 0 {
			return nil, false, true
		}
		return line[j+1 : j+1+k], true, false
	}
	k := j
	for k < len(line) && line[k] != ' ' && line[k] != ',' && line[k] != ';' && line[k] != '\t' {
		k++
	}
	return line[j:k], k > j, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// indexFold is bytes.Index ignoring ASCII case; key must be upper case.
func indexFold(b []byte, key string) int {
	for i := 0; i+len(key) <= len(b); i++ {
		if hasPrefixFold(b[i:], key) {
			return i
		}
	}
	return -1
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case; prefix must be
// upper case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if upper(b[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
