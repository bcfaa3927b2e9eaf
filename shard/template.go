package shard

import (
	"fmt"
	"strconv"
	"strings"
)

// template is a parsed name template: literal text with {n}, {m} and {k}
// placeholders, each optionally zero-padded to a width ({n:3} is 007).
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	field byte // 0 for a literal, else 'n', 'm' or 'k'
	width int
}

// parseTemplate reads s. Unknown placeholders, unbalanced braces and bad
// widths are errors quoting the template.
func parseTemplate(s string) (template, error) {
	var t template
	if s == "" {
		return t, fmt.Errorf("empty template")
	}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		if rest[i] == '}' {
			return t, fmt.Errorf("template %q: '}' without '{'", s)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("template %q: '{' without '}'", s)
		}
		spec := rest[i+1 : i+j]
		name, width, hasWidth := strings.Cut(spec, ":")
		if name != "n" && name != "m" && name != "k" {
			return t, fmt.Errorf("template %q: unknown placeholder {%s} (want {n} shard, {m} database or {k} table within the database, optionally {n:W} zero-padded to W digits)", s, spec)
		}
		p := tmplPart{field: name[0]}
		if hasWidth {
			w, err := strconv.Atoi(width)
			if err != nil || w < 1 || w > 20 {
				return t, fmt.Errorf("template %q: placeholder {%s}: width must be a number from 1 to 20", s, spec)
			}
			p.width = w
		}
		t.parts = append(t.parts, p)
		rest = rest[i+j+1:]
	}
	return t, nil
}

// has reports whether the template uses placeholder f.
func (t template) has(f byte) bool {
	for _, p := range t.parts {
		if p.field == f {
			return true
		}
	}
	return false
}

// expand fills in shard n, database m and table k.
func (t template) expand(n, m, k int) string {
	var b strings.Builder
	for _, p := range t.parts {
		var v int
		switch p.field {
		case 0:
			b.WriteString(p.lit)
			continue
		case 'n':
			v = n
		case 'm':
			v = m
		case 'k':
			v = k
		}
		s := strconv.Itoa(v)
		for i := len(s); i < p.width; i++ {
			b.WriteByte('0')
		}
		b.WriteString(s)
	}
	return b.String()
}
