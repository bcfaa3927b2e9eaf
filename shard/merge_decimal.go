package shard

import (
	"fmt"
	"math/big"
	"strings"
)

// Decimal is an exact decimal number, as MariaDB's DECIMAL holds it: an
// integer and a scale (digits after the point). The zero value is 0.
// Decimals are immutable.
type Decimal struct {
	unscaled *big.Int // nil for 0
	scale    int
}

// ParseDecimal reads a decimal as MariaDB prints it: an optional sign,
// digits, and optionally a point and more digits ("-12.50").
func ParseDecimal(s string) (Decimal, error) {
	digits, neg := s, false
	if rest, ok := strings.CutPrefix(digits, "-"); ok {
		digits, neg = rest, true
	} else if rest, ok := strings.CutPrefix(digits, "+"); ok {
		digits = rest
	}
	whole, frac, _ := strings.Cut(digits, ".")
	if whole == "" && frac == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return Decimal{}, fmt.Errorf("shard: %q is not a decimal number", s)
	}
	u, ok := new(big.Int).SetString("0"+whole+frac, 10)
	if !ok {
		return Decimal{}, fmt.Errorf("shard: %q is not a decimal number", s)
	}
	if neg {
		u.Neg(u)
	}
	return Decimal{unscaled: u, scale: len(frac)}, nil
}

func (d Decimal) int() *big.Int {
	if d.unscaled == nil {
		return new(big.Int)
	}
	return d.unscaled
}

// Scale is the number of digits after the point.
func (d Decimal) Scale() int { return d.scale }

// String prints d with exactly Scale digits after the point, as MariaDB
// does.
func (d Decimal) String() string {
	u := d.int()
	s := new(big.Int).Abs(u).String()
	if d.scale > 0 {
		if len(s) <= d.scale {
			s = strings.Repeat("0", d.scale-len(s)+1) + s
		}
		s = s[:len(s)-d.scale] + "." + s[len(s)-d.scale:]
	}
	if u.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// rescaled returns d's integer at scale s >= d.scale.
func (d Decimal) rescaled(s int) *big.Int {
	u := d.int()
	if s == d.scale {
		return u
	}
	return new(big.Int).Mul(u, pow10(s-d.scale))
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// Cmp compares d and e by value: -1, 0 or +1 (1.50 equals 1.5).
func (d Decimal) Cmp(e Decimal) int {
	s := max(d.scale, e.scale)
	return d.rescaled(s).Cmp(e.rescaled(s))
}

// Add returns d + e, at the larger of the two scales.
func (d Decimal) Add(e Decimal) Decimal {
	s := max(d.scale, e.scale)
	return Decimal{unscaled: new(big.Int).Add(d.rescaled(s), e.rescaled(s)), scale: s}
}

// quo returns d / n rounded half away from zero to scale digits, as
// MariaDB rounds a DECIMAL division. n must not be 0.
func (d Decimal) quo(n int64, scale int) Decimal {
	// d.int / 10^d.scale / n at scale: d.int * 10^(scale-d.scale) / n,
	// or / 10^(d.scale-scale) when scale is smaller.
	num, den := new(big.Int).Set(d.int()), big.NewInt(n)
	if scale >= d.scale {
		num.Mul(num, pow10(scale-d.scale))
	} else {
		den.Mul(den, pow10(d.scale-scale))
	}
	neg := num.Sign()*den.Sign() < 0
	num.Abs(num)
	den.Abs(den)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return Decimal{unscaled: q, scale: scale}
}
