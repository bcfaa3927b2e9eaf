package verify

import (
	"bytes"
	"hash/crc32"
	"math/big"
	"strconv"
)

// The row encoding. A row is written as the fields below joined by '#'
// (CONCAT_WS in SQL), in column order:
//
//	strings and binary values: "<length in bytes>", "<bytes>"
//	numbers, times, dates:     "<text>" (never empty, never holds '#')
//	NULL:                      no field
//
// and, when any compared column is nullable, a last field with one "0" or
// "1" per nullable column saying which are NULL. No two different rows
// encode alike: ('a','0c') is "1#a#2#0c" and ('a0','c') is "2#a0#1#c";
// with a nullable column, NULL gives the mask "1", '' gives "0#" and the
// mask "0", 'NULL' gives "4#NULL" and the mask "0".
//
// The row hash is a CRC of the encoding times 4294967291:
//
//	hash = CRC32C(encoding) * 4294967291   (< 2^64: no overflow)
//
// where every server of the comparison has CRC32C() (MariaDB 10.8 and
// later; Castagnoli, computed in hardware), else
//
//	hash = CRC32(encoding) * 4294967291
//
// (MySQL, which has no CRC32C(), and older MariaDB). All sides of one
// comparison use the same function: Verify probes each server once per
// Verifier (see hashProbe). Both CRCs are 32 bits wide and detect every
// burst of up to 32 bits, so the bound below holds for either. The tests
// run CRC32 on MariaDB (CRC32C() hidden by withoutCRC32C); no MySQL
// server has run it.
//
// A chunk's checksum is the row count and the XOR of its row hashes. The
// multiplication matters: CRCs are linear over GF(2), so a XOR of plain
// CRCs would let the changes of two rows cancel (values of equal length
// swapped between them, say); the product's carries break that linearity.
// The server computes it in SQL (see hashFunc.sql); encodeRow and
// hashFunc.rowHash are the Go mirror that the tests check it against.
//
// Collision bound: the product is injective, so two encodings hash alike
// only when their CRCs are equal. A change confined to a burst of at
// most 32 bits of the encoding (a digit or a letter replaced, say) always
// changes the CRC; any other change of a chunk is missed with a
// probability of about 2^-32 (the chunk's XOR must come out equal). That
// is the bound of the plain CRC32 checksum (pt-table-checksum's default)
// without its cancellation. An earlier 64-bit hash (CRC32 * 4294967291 +
// CRC32C) bounded the miss at about 2^-64 but needed the encoding twice
// per row (a user variable copy or a second build), which cost verify
// 1.49x the plain checksum's server CPU instead of 1.17x (benchcopy).

// hashMultiplier is 2^32 - 5, the largest prime below 2^32: a 32-bit CRC
// times it stays below 2^64, so the server's unsigned arithmetic never
// overflows.
const hashMultiplier = "4294967291"

// field says how one column enters the encoding.
type field struct {
	lengthPrefixed bool // strings and binary values
	nullable       bool
}

// encodeRow appends the encoding of values (nil for NULL) of columns
// described by fields to dst.
func encodeRow(dst []byte, fields []field, values [][]byte) []byte {
	first := true
	sep := func() {
		if !first {
			dst = append(dst, '#')
		}
		first = false
	}
	var mask []byte
	for i, v := range values {
		if fields[i].nullable {
			if v == nil {
				mask = append(mask, '1')
			} else {
				mask = append(mask, '0')
			}
		}
		if v == nil {
			continue
		}
		if fields[i].lengthPrefixed {
			sep()
			dst = strconv.AppendInt(dst, int64(len(v)), 10)
		}
		sep()
		dst = append(dst, v...)
	}
	if mask != nil {
		sep()
		dst = append(dst, mask...)
	}
	return dst
}

// decodeRow is the inverse of encodeRow; ok is false for input that no row
// encodes to.
func decodeRow(enc []byte, fields []field) (values [][]byte, ok bool) {
	nullable := 0
	for _, f := range fields {
		if f.nullable {
			nullable++
		}
	}
	var mask []byte
	if nullable > 0 {
		if len(enc) < nullable {
			return nil, false
		}
		mask = enc[len(enc)-nullable:]
		enc = enc[:len(enc)-nullable]
		if len(enc) > 0 {
			if enc[len(enc)-1] != '#' {
				return nil, false
			}
			enc = enc[:len(enc)-1]
		}
	}
	values = make([][]byte, len(fields))
	present := 0
	m := 0
	for i, f := range fields {
		if f.nullable {
			switch mask[m] {
			case '1':
				m++
				continue
			case '0':
				m++
			default:
				return nil, false
			}
		}
		if present > 0 {
			if len(enc) == 0 || enc[0] != '#' {
				return nil, false
			}
			enc = enc[1:]
		}
		present++
		if f.lengthPrefixed {
			hash := bytes.IndexByte(enc, '#')
			if hash < 1 {
				return nil, false
			}
			digits := string(enc[:hash])
			if digits != "0" && digits[0] == '0' {
				return nil, false
			}
			n, err := strconv.ParseUint(digits, 10, 31)
			if err != nil || uint64(len(enc)-hash-1) < n {
				return nil, false
			}
			values[i] = append([]byte{}, enc[hash+1:hash+1+int(n)]...)
			enc = enc[hash+1+int(n):]
			continue
		}
		end := bytes.IndexByte(enc, '#')
		if end < 0 {
			end = len(enc)
		}
		if end == 0 {
			return nil, false
		}
		values[i] = append([]byte{}, enc[:end]...)
		enc = enc[end:]
	}
	if len(enc) > 0 {
		return nil, false
	}
	return values, true
}

// hashFunc is the CRC function of the row hash (see above).
type hashFunc int

const (
	hashCRC32C hashFunc = iota // CRC32C(): MariaDB 10.8 and later
	hashCRC32                  // CRC32(): every MySQL and MariaDB
)

// String is the function's SQL name.
func (h hashFunc) String() string {
	if h == hashCRC32 {
		return "CRC32"
	}
	return "CRC32C"
}

// sql is the row hash of the encoding expression enc.
func (h hashFunc) sql(enc string) string {
	return h.String() + "(" + enc + ") * " + hashMultiplier
}

// crc is the CRC of b, as the server's function computes it.
func (h hashFunc) crc(b []byte) uint32 {
	if h == hashCRC32 {
		return crc32.ChecksumIEEE(b)
	}
	return crc32.Checksum(b, castagnoliTable)
}

// rowHash is the hash of a row's encoding: the Go mirror of sql.
func (h hashFunc) rowHash(enc []byte) uint64 {
	return uint64(h.crc(enc)) * 4294967291
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// compareInt compares two integers written in decimal (optional minus,
// digits); it works for any size.
func compareInt(a, b []byte) int {
	an, bn := len(a) > 0 && a[0] == '-', len(b) > 0 && b[0] == '-'
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	if an {
		a, b = b[1:], a[1:] // both negative: compare magnitudes reversed
	}
	a, b = bytes.TrimLeft(a, "0"), bytes.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

// compareDecimal compares two exact decimals as the server writes them
// ("-12.340", "20240101100000.500000"); it falls back to big.Rat for any
// other form.
func compareDecimal(a, b []byte) int {
	if bytes.ContainsAny(a, "eE") || bytes.ContainsAny(b, "eE") {
		return compareRat(a, b)
	}
	an, bn := len(a) > 0 && a[0] == '-', len(b) > 0 && b[0] == '-'
	if an {
		a = a[1:]
	}
	if bn {
		b = b[1:]
	}
	ai, af, _ := bytes.Cut(a, []byte("."))
	bi, bf, _ := bytes.Cut(b, []byte("."))
	ai, bi = bytes.TrimLeft(ai, "0"), bytes.TrimLeft(bi, "0")
	af, bf = bytes.TrimRight(af, "0"), bytes.TrimRight(bf, "0")
	azero, bzero := len(ai) == 0 && len(af) == 0, len(bi) == 0 && len(bf) == 0
	an, bn = an && !azero, bn && !bzero // -0 is 0
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case len(ai) != len(bi):
		c = 1
		if len(ai) < len(bi) {
			c = -1
		}
	default:
		if c = bytes.Compare(ai, bi); c == 0 {
			c = bytes.Compare(af, bf) // trailing zeros removed: plain byte order is numeric order
		}
	}
	if an {
		c = -c
	}
	return c
}

func compareRat(a, b []byte) int {
	ra, oka := new(big.Rat).SetString(string(a))
	rb, okb := new(big.Rat).SetString(string(b))
	if !oka || !okb {
		return bytes.Compare(a, b)
	}
	return ra.Cmp(rb)
}

// compareFloat compares two floating-point numbers in text.
func compareFloat(a, b []byte) int {
	fa, erra := strconv.ParseFloat(string(a), 64)
	fb, errb := strconv.ParseFloat(string(b), 64)
	if erra != nil || errb != nil {
		return bytes.Compare(a, b)
	}
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}
