// Package compilecheck type-checks Go source in tests, to prove that an API
// rejects misuse at compile time.
package compilecheck

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Expect type-checks src, the source of one Go file. Each function whose
// name starts with "bad" must fail with exactly one error, containing the
// text of the comment on the function's first line; every other function
// must type-check. Imports are read from the export data the go command
// builds for them (go list -export), which takes a fraction of a second
// where type-checking them from source takes seconds.
func Expect(t testing.TB, src string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "check.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var errs []types.Error
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", exports(t, f)),
		Error:    func(err error) { errs = append(errs, err.(types.Error)) },
	}
	_, _ = conf.Check(f.Name.Name, fset, []*ast.File{f}, nil)

	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
		var got []string
		for _, e := range errs {
			if line := fset.Position(e.Pos).Line; line >= start && line <= end {
				got = append(got, e.Msg)
			}
		}
		name := fn.Name.Name
		if !strings.HasPrefix(name, "bad") {
			if len(got) > 0 {
				t.Errorf("%s does not compile: %s", name, strings.Join(got, "; "))
			}
			continue
		}
		want := lineComment(fset, f, start)
		if want == "" || len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("%s: errors %q, want one containing %q", name, got, want)
		}
	}
}

// exports returns an importer lookup that opens the export data of f's
// imports and their dependencies.
func exports(t testing.TB, f *ast.File) func(path string) (io.ReadCloser, error) {
	t.Helper()
	args := []string{"list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}"}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, "=")
		files[path] = file
	}
	return func(path string) (io.ReadCloser, error) {
		file := files[path]
		if file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	}
}

// lineComment returns the text of the comment on line of f.
func lineComment(fset *token.FileSet, f *ast.File, line int) string {
	for _, c := range f.Comments {
		if fset.Position(c.Pos()).Line == line {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}
