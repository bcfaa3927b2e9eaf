package shiftgate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestExamplesAreCopyable holds every Example function of the module to
// what a reader needs to copy it into a host module: it is in an external
// test package (package x_test), its file imports only the standard
// library, the exported packages of shiftgate and the MySQL driver, and its
// code uses nothing the documentation does not show: no declaration of
// another test file (the test servers, sample-data helpers), and no helper
// of its own file unless the file is a whole-file example (one example and
// no tests, shown in full).
func TestExamplesAreCopyable(t *testing.T) {
	problems, examples := checkExamples(t, ".")
	if examples < 10 {
		t.Errorf("found %d examples; the walk misses some", examples)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestExampleCheckFindsProblems shows that checkExamples catches each way
// an example can depend on the module's test code.
func TestExampleCheckFindsProblems(t *testing.T) {
	const helpers = `package x_test

import "github.com/shiftgate/shiftgate/internal/sandbox"

var servers []*sandbox.Server

func TestX(t *testing.T) {}
`
	for _, tc := range []struct {
		name, example, want string
	}{
		{"internal import", `package x_test

import "github.com/shiftgate/shiftgate/internal/sampledata"

func Example() { _ = sampledata.Size }
`, `imports internal package "github.com/shiftgate/shiftgate/internal/sampledata"`},
		{"test-only import", `package x_test

import "github.com/stretchr/testify/assert"

func Example() { _ = assert.Equal }
`, `imports "github.com/stretchr/testify/assert"`},
		{"another file's declaration", `package x_test

func Example() { _ = servers[0] }
`, "uses servers, declared in another test file"},
		{"helper not shown", `package x_test

import "fmt"

func show(s string) { fmt.Println(s) }

func Example() { show("a") }

func ExampleB() { show("b") }
`, "uses show, a declaration of its file that only a whole-file example shows"},
		{"internal test package", `package x

func Example() {}
`, "examples are in package x, not an external test package"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "helpers_test.go"), helpers)
			writeFile(t, filepath.Join(dir, "example_test.go"), tc.example)
			problems, n := checkExamples(t, dir)
			if n == 0 {
				t.Fatal("no example found")
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one containing %q", problems, tc.want)
			}
		})
	}

	t.Run("copyable", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "helpers_test.go"), helpers)
		writeFile(t, filepath.Join(dir, "example_test.go"), `package x_test

import (
	"fmt"
	"os"

	_ "github.com/go-sql-driver/mysql"
	"github.com/shiftgate/shiftgate/migrate"
)

type servers struct{ source string } // shadows the other file's servers

func (s servers) print() { fmt.Println(s.source, migrate.ErrRunning) }

// A whole-file example: its helpers are shown with it.
func Example() {
	servers{source: os.Getenv("SHIFTGATE_EXAMPLE_SOURCE_DSN")}.print()
}
`)
		if problems, _ := checkExamples(t, dir); len(problems) > 0 {
			t.Errorf("a copyable example was refused: %q", problems)
		}
	})
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkExamples checks the examples of every package under root and
// returns the problems found and the number of examples.
func checkExamples(t *testing.T, root string) (problems []string, examples int) {
	t.Helper()
	byDir := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, files := range byDir {
		p, n := checkPackageExamples(t, files)
		problems = append(problems, p...)
		examples += n
	}
	slices.Sort(problems)
	return problems, examples
}

// checkPackageExamples checks the examples among the test files of one
// directory.
func checkPackageExamples(t *testing.T, paths []string) (problems []string, examples int) {
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, path := range paths {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = f
	}
	for path, f := range files {
		var exs []*ast.FuncDecl
		tests := false
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				switch name := fd.Name.Name; {
				case strings.HasPrefix(name, "Example"):
					exs = append(exs, fd)
				case strings.HasPrefix(name, "Test"), strings.HasPrefix(name, "Benchmark"), strings.HasPrefix(name, "Fuzz"):
					tests = true
				}
			}
		}
		if len(exs) == 0 {
			continue
		}
		examples += len(exs)
		if !strings.HasSuffix(f.Name.Name, "_test") {
			problems = append(problems, path+": examples are in package "+f.Name.Name+", not an external test package")
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if bad := badImport(p); bad != "" {
				problems = append(problems, path+": "+bad)
			}
		}
		others := map[string]bool{}
		for other, g := range files {
			if other != path && g.Name.Name == f.Name.Name {
				maps.Copy(others, topLevel(g))
			}
		}
		own := topLevel(f)
		// A whole-file example is shown with its file's declarations;
		// otherwise the documentation shows the example's body alone.
		var shown []ast.Node
		if len(exs) == 1 && !tests {
			shown = []ast.Node{f}
		} else {
			for _, ex := range exs {
				shown = append(shown, ex.Body)
			}
		}
		for _, n := range shown {
			for _, id := range freeIdents(n) {
				pos := fset.Position(id.Pos()).String()
				switch {
				case id.Name == "_": // the blank identifier declares nothing
				case own[id.Name] && n != ast.Node(f):
					problems = append(problems, pos+": the example uses "+id.Name+", a declaration of its file that only a whole-file example shows")
				case others[id.Name] && !own[id.Name]:
					problems = append(problems, pos+": the example uses "+id.Name+", declared in another test file")
				}
			}
		}
	}
	return problems, examples
}

// topLevel returns the names f declares at package level.
func topLevel(f *ast.File) map[string]bool {
	out := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				out[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.ValueSpec:
					for _, id := range spec.Names {
						out[id.Name] = true
					}
				case *ast.TypeSpec:
					out[spec.Name.Name] = true
				}
			}
		}
	}
	return out
}

// freeIdents returns the identifiers in n that may refer to a declaration
// outside n: every identifier except selected names (x.Sel), keys of
// composite literals and names n declares itself, wherever in n (a
// shadowed name counts as declared).
func freeIdents(n ast.Node) []*ast.Ident {
	declared := map[string]bool{}
	ast.Inspect(n, func(n ast.Node) bool {
		var ids []*ast.Ident
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, e := range n.Lhs {
					if id, ok := e.(*ast.Ident); ok {
						ids = append(ids, id)
					}
				}
			}
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						ids = append(ids, id)
					}
				}
			}
		case *ast.ValueSpec:
			ids = n.Names
		case *ast.TypeSpec:
			ids = []*ast.Ident{n.Name}
		case *ast.Field:
			ids = n.Names
		case *ast.LabeledStmt:
			ids = []*ast.Ident{n.Label}
		}
		for _, id := range ids {
			declared[id.Name] = true
		}
		return true
	})
	var out []*ast.Ident
	var visit func(ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(n.X, visit)
			return false
		case *ast.KeyValueExpr:
			if _, ok := n.Key.(*ast.Ident); !ok {
				ast.Inspect(n.Key, visit)
			}
			ast.Inspect(n.Value, visit)
			return false
		case *ast.Ident:
			if !declared[n.Name] {
				out = append(out, n)
			}
		}
		return true
	}
	ast.Inspect(n, visit)
	return out
}

// badImport says why an example file may not import path, or "".
func badImport(path string) string {
	first, _, _ := strings.Cut(path, "/")
	switch {
	case !strings.Contains(first, "."):
		return "" // the standard library
	case path == "github.com/go-sql-driver/mysql":
		return ""
	case path == "github.com/shiftgate/shiftgate" || strings.HasPrefix(path, "github.com/shiftgate/shiftgate/"):
		if slices.Contains(strings.Split(path, "/"), "internal") {
			return "imports internal package " + strconv.Quote(path) + ", which a host module cannot"
		}
		return ""
	default:
		return "imports " + strconv.Quote(path) + ": examples use only the standard library, shiftgate and the MySQL driver"
	}
}
