package dumpscan

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// synthDump builds a dump of about size bytes shaped like mariadb-dump's
// (one row a line) or, with oneLine, like MySQL's (all the rows of a
// statement on one line), and returns it with its number of rows.
func synthDump(size int, oneLine bool) ([]byte, int64) {
	words := []string{"alpha", "beta", "gamma", "delta", "it\\'s", "quote \\\"x\\\"", "paren (", ")", "semi;",
		"VALUES", "-- dash", "back\\\\slash", "new\\nline", "tab\\t", "caf\xc3\xa9", "lorem", "ipsum", "dolor"}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(size + 1<<20)
	b.WriteString("-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n\n" +
		"-- CHANGE MASTER TO MASTER_LOG_FILE='bin.000001', MASTER_LOG_POS=1333;\n\n")
	var rows int64
	for t := 0; b.Len() < size; t++ {
		fmt.Fprintf(&b, "--\n-- Table structure for table `t%d`\n--\n\nDROP TABLE IF EXISTS `t%d`;\n"+
			"CREATE TABLE `t%d` (\n  `id` int(11) NOT NULL,\n  `name` varchar(100) DEFAULT NULL,\n"+
			"  `body` text DEFAULT NULL,\n  `price` decimal(10,2) DEFAULT NULL,\n  `at` datetime DEFAULT NULL,\n"+
			"  `data` blob,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"+
			"--\n-- Dumping data for table `t%d`\n--\n\nLOCK TABLES `t%d` WRITE;\n", t, t, t, t, t)
		for stmt := 0; stmt < 20 && b.Len() < size; stmt++ {
			fmt.Fprintf(&b, "INSERT INTO `t%d` VALUES", t)
			if !oneLine {
				b.WriteByte('\n')
			}
			for row := range 2000 {
				if row > 0 {
					b.WriteByte(',')
					if !oneLine {
						b.WriteByte('\n')
					}
				}
				rows++
				fmt.Fprintf(&b, "(%d,'%s %s',", rows, words[r.IntN(len(words))], words[r.IntN(len(words))])
				if r.IntN(4) == 0 {
					b.WriteString("NULL")
				} else {
					b.WriteByte('\'')
					for range 5 + r.IntN(20) {
						b.WriteString(words[r.IntN(len(words))])
						b.WriteByte(' ')
					}
					b.WriteByte('\'')
				}
				fmt.Fprintf(&b, ",%d.%02d,'2024-01-%02d 12:34:56',", r.IntN(100000), r.IntN(100), 1+r.IntN(28))
				if r.IntN(2) == 0 {
					fmt.Fprintf(&b, "0x%016X)", r.Uint64())
				} else {
					b.WriteString("'\\0\x01\x02')")
				}
			}
			b.WriteString(";\n")
		}
		b.WriteString("UNLOCK TABLES;\n\n")
	}
	b.WriteString("-- SET GLOBAL gtid_slave_pos='0-1-100';\n-- Dump completed\n")
	return b.Bytes(), rows
}

var benchDumps = sync.OnceValue(func() map[string][]byte {
	mdb, _ := synthDump(64<<20, false)
	my, _ := synthDump(64<<20, true)
	return map[string][]byte{"mariadb": mdb, "mysql": my}
})

func TestSynthDump(t *testing.T) {
	for _, oneLine := range []bool{false, true} {
		in, rows := synthDump(1<<20, oneLine)
		s := scanAll(t, in)
		equal(t, rows, s.Rows(), "rows")
		equal(t, Position{File: "bin.000001", Pos: 1333, GTID: "0-1-100"}, s.Position())
	}
}

// BenchmarkScanner feeds a synthetic 64 MB dump in 64 KiB writes, as a
// pipe delivers them.
func BenchmarkScanner(b *testing.B) {
	for _, shape := range []string{"mariadb", "mysql"} {
		b.Run(shape, func(b *testing.B) {
			in := benchDumps()[shape]
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				s := New()
				for rest := in; len(rest) > 0; {
					n := min(len(rest), 64<<10)
					_, _ = s.Write(rest[:n])
					rest = rest[n:]
				}
				if s.Rows() == 0 {
					b.Fatal("no rows")
				}
			}
		})
	}
}
