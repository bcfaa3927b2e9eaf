package shard

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecimalParsePrintCompareAdd(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"0", "0"}, {"12.50", "12.50"}, {"-0.05", "-0.05"}, {".5", "0.5"}, {"+7", "7"}, {"-12", "-12"},
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"},
	} {
		d, err := ParseDecimal(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.out, d.String(), c.in)
	}
	for _, bad := range []string{"", "-", ".", "1e5", "1.2.3", "abc", " 1"} {
		_, err := ParseDecimal(bad)
		assert.Error(t, err, bad)
	}
	a, _ := ParseDecimal("1.50")
	b, _ := ParseDecimal("1.5")
	c, _ := ParseDecimal("-2.125")
	assert.Zero(t, a.Cmp(b))
	assert.Equal(t, 1, a.Cmp(c))
	assert.Equal(t, -1, c.Cmp(Decimal{}))
	assert.Equal(t, "-0.625", a.Add(c).String())
	assert.Equal(t, "1.50", Decimal{}.Add(a).String())
}

func TestDecimalQuoRoundsHalfAwayFromZero(t *testing.T) {
	for _, c := range []struct {
		d     string
		n     int64
		scale int
		want  string
	}{
		{"5", 2, 0, "3"}, {"-5", 2, 0, "-3"}, {"2", 3, 4, "0.6667"}, {"-1", 6, 4, "-0.1667"},
		{"10.00", 4, 6, "2.500000"}, {"1.25", 1, 1, "1.3"}, {"-1.25", 1, 1, "-1.3"}, {"1.24", 1, 1, "1.2"}, {"0", 7, 4, "0.0000"},
	} {
		d, err := ParseDecimal(c.d)
		require.NoError(t, err)
		assert.Equal(t, c.want, d.quo(c.n, c.scale).String(), "%s / %d at scale %d", c.d, c.n, c.scale)
	}
}

func TestPadSpaceBinIgnoresTrailingSpacesOnly(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"a", "a ", 0}, {"a  ", "a", 0}, {"", "   ", 0}, {"a\t", "a", -1}, {"a", "a\t", 1},
		{"a", "ab", -1}, {"A", "a", -1}, {"z", "é", -1}, {"é", "€", -1}, {"€", "😀", -1}, {"a b", "a", 1},
	} {
		assert.Equal(t, c.want, PadSpaceBin(c.a, c.b), "%q vs %q", c.a, c.b)
	}
}
