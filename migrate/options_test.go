package migrate_test

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
	"strings"
	"testing"
)

// misuse is a program that gives options to constructors. Each function
// named bad* must fail to type-check with its comment's text; the others
// must type-check.
const misuse = `package misuse

import (
	"log/slog"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

func good() {
	l := slog.Default()
	_, _ = migrate.NewPipe("", "", "db", migrate.WithLogger(l), migrate.WithTables("t"), migrate.WithCharset("utf8mb4"))
	_, _ = migrate.NewCopier("", "", "db", migrate.WithLogger(l), migrate.WithTables("t"), migrate.WithThreads(2))
	_, _ = migrate.NewStatements("", "db", []string{"SELECT 1"}, migrate.WithLogger(l), migrate.WithStatementTimeout(time.Second))
	shared := []migrate.CopyOption{migrate.WithReplace(), migrate.WithTimeouts(0, 0, 0)}
	_, _ = migrate.NewPipe("", "", "db", shared[0], shared[1])
	_, _ = migrate.NewCopier("", "", "db", shared[0], shared[1])
}

func badCopierOptionToPipe() { // migrate.CopierOption does not implement migrate.PipeOption
	_, _ = migrate.NewPipe("", "", "db", migrate.WithThreads(2))
}

func badPipeOptionToCopier() { // migrate.PipeOption does not implement migrate.CopierOption
	_, _ = migrate.NewCopier("", "", "db", migrate.WithCharset("utf8mb4"))
}

func badCopyOptionToStatements() { // migrate.CopyOption does not implement migrate.StatementsOption
	_, _ = migrate.NewStatements("", "db", nil, migrate.WithTables("t"))
}

func badStatementsOptionToCopier() { // migrate.StatementsOption does not implement migrate.CopierOption
	_, _ = migrate.NewCopier("", "", "db", migrate.WithStatementTimeout(time.Second))
}

func badCopierOptionsToPipe(opts []migrate.CopierOption) { // cannot use opts
	_, _ = migrate.NewPipe("", "", "db", opts...)
}
`

// TestOptionsMisappliedDoNotCompile type-checks misuse: an option given to
// a constructor it does not apply to is a compile error, not a run-time
// one.
func TestOptionsMisappliedDoNotCompile(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "misuse.go", misuse, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	// The export data the go command built for migrate and its
	// dependencies: a fraction of a second, against seconds for
	// type-checking them from source.
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}", "github.com/shiftgate/shiftgate/migrate", "log/slog", "time").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, "=")
		exports[path] = file
	}
	lookup := func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	}
	var errs []types.Error
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", lookup),
		Error:    func(err error) { errs = append(errs, err.(types.Error)) },
	}
	_, _ = conf.Check("misuse", fset, []*ast.File{f}, nil)

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

// lineComment returns the text of the comment on line of f.
func lineComment(fset *token.FileSet, f *ast.File, line int) string {
	for _, c := range f.Comments {
		if fset.Position(c.Pos()).Line == line {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}
