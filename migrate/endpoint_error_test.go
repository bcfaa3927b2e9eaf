package migrate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// objectArg is the argument that names the Object of the EndpointError
// each of these helpers builds.
var objectArg = map[string]int{
	"targetErr": 0, "sourceErr": 0, "srcErr": 0, "dstErr": 0,
	"sourceProblem": 0, "targetProblem": 0, "fatal": 0, "hintedProblem": 1,
}

// Every EndpointError names its Object, or says with serverFault that
// the server itself is at fault: a "" object or a literal without Object
// is a place that forgot.
func TestEveryEndpointErrorNamesItsObject(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				var fn string
				switch f := n.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				if i, ok := objectArg[fn]; ok && i < len(n.Args) {
					if lit, ok := n.Args[i].(*ast.BasicLit); ok && lit.Value == `""` {
						t.Errorf("%s: %s with an empty object (name it, or pass serverFault)", fset.Position(n.Pos()), fn)
					}
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); !ok || id.Name != "EndpointError" {
					return true
				}
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Object" {
							return true
						}
					}
				}
				t.Errorf("%s: EndpointError without Object (name it, or set serverFault)", fset.Position(n.Pos()))
			}
			return true
		})
	}
}
