package migrate

import (
	"slices"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// What a copy takes from the source database: the tables WithTables names
// and the objects (views, routines, triggers, events) that go with them.

// selectTables keeps the named tables of all (all of them when names is
// empty) in the order named, and returns the names not found.
func selectTables(all []schema.Table, names []string) (selected []schema.Table, missing []string) {
	if len(names) == 0 {
		return all, nil
	}
	for _, n := range names {
		i := slices.IndexFunc(all, func(t schema.Table) bool { return t.Name == n })
		if i < 0 {
			missing = append(missing, n)
			continue
		}
		selected = append(selected, all[i])
	}
	return selected, missing
}

// objects lists the views, routines, triggers and events that will be copied.
func (c *config) objects(tables []schema.Table, routines []schema.Routine) []Object {
	var out []Object
	names := map[string]bool{}
	for _, t := range tables {
		names[t.Name] = true
		if t.View && !c.skip[KindView] {
			out = append(out, Object{Kind: KindView, Name: t.Name})
		}
	}
	for _, r := range routines {
		kind := ObjectKind(r.Kind)
		if c.skip[kind] {
			continue
		}
		// Routines and events belong to the database: copied only with it.
		if kind == KindTrigger && !names[r.Table] || kind != KindTrigger && len(c.tables) > 0 {
			continue
		}
		out = append(out, Object{Kind: kind, Name: r.Name})
	}
	return out
}
