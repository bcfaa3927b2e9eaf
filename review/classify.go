package review

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// classify returns a parsed statement's kind and type name.
func classify(n ast.StmtNode) (Kind, string) {
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		return KindDDL, "CREATE TABLE"
	case *ast.AlterTableStmt:
		return KindDDL, "ALTER TABLE"
	case *ast.DropTableStmt:
		if n.IsView {
			return KindDDL, "DROP VIEW"
		}
		return KindDDL, "DROP TABLE"
	case *ast.TruncateTableStmt:
		return KindDDL, "TRUNCATE TABLE"
	case *ast.RenameTableStmt:
		return KindDDL, "RENAME TABLE"
	case *ast.CreateIndexStmt:
		return KindDDL, "CREATE INDEX"
	case *ast.DropIndexStmt:
		return KindDDL, "DROP INDEX"
	case *ast.CreateDatabaseStmt:
		return KindDDL, "CREATE DATABASE"
	case *ast.DropDatabaseStmt:
		return KindDDL, "DROP DATABASE"
	case *ast.AlterDatabaseStmt:
		return KindDDL, "ALTER DATABASE"
	case *ast.CreateViewStmt:
		return KindDDL, "CREATE VIEW"
	case *ast.CreateSequenceStmt:
		return KindDDL, "CREATE SEQUENCE"
	case *ast.DropSequenceStmt:
		return KindDDL, "DROP SEQUENCE"
	case *ast.ProcedureInfo:
		return KindDDL, "CREATE PROCEDURE"
	case *ast.DropProcedureStmt:
		return KindDDL, "DROP PROCEDURE"
	case *ast.InsertStmt:
		switch {
		case n.IsReplace:
			return KindDML, "REPLACE"
		case n.Select != nil:
			return KindDML, "INSERT SELECT"
		}
		return KindDML, "INSERT"
	case *ast.UpdateStmt:
		return KindDML, "UPDATE"
	case *ast.DeleteStmt:
		return KindDML, "DELETE"
	case *ast.LoadDataStmt:
		return KindDML, "LOAD DATA"
	case *ast.SelectStmt, *ast.SetOprStmt:
		return KindQuery, "SELECT"
	case *ast.ShowStmt:
		return KindQuery, "SHOW"
	case *ast.ExplainStmt:
		return KindQuery, "EXPLAIN"
	case *ast.UseStmt:
		return KindOther, "USE"
	case *ast.SetStmt:
		for _, v := range n.Variables {
			if v.IsGlobal {
				return KindOther, "SET GLOBAL"
			}
		}
		return KindOther, "SET"
	case *ast.BeginStmt:
		return KindOther, "BEGIN"
	case *ast.CommitStmt:
		return KindOther, "COMMIT"
	case *ast.RollbackStmt:
		return KindOther, "ROLLBACK"
	case *ast.GrantStmt, *ast.GrantRoleStmt:
		return KindOther, "GRANT"
	case *ast.RevokeStmt, *ast.RevokeRoleStmt:
		return KindOther, "REVOKE"
	case *ast.CreateUserStmt:
		return KindOther, "CREATE USER"
	case *ast.DropUserStmt:
		return KindOther, "DROP USER"
	case *ast.AlterUserStmt:
		return KindOther, "ALTER USER"
	case *ast.SetPwdStmt:
		return KindOther, "SET PASSWORD"
	case *ast.FlushStmt:
		return KindOther, "FLUSH"
	case *ast.KillStmt:
		return KindOther, "KILL"
	case *ast.ShutdownStmt:
		return KindOther, "SHUTDOWN"
	case *ast.LockTablesStmt:
		return KindOther, "LOCK TABLES"
	case *ast.UnlockTablesStmt:
		return KindOther, "UNLOCK TABLES"
	case *ast.AnalyzeTableStmt:
		return KindOther, "ANALYZE TABLE"
	case *ast.CallStmt:
		return KindDML, "CALL"
	}
	if _, ok := n.(ast.DDLNode); ok {
		return KindDDL, typeFromText(n.Text())
	}
	return KindOther, typeFromText(n.Text())
}

// typeFromText names a statement by its first two words.
func typeFromText(text string) string {
	w := leadingWords(text, make([]string, 0, 2))
	if len(w) == 0 {
		return "UNKNOWN"
	}
	return strings.Join(w, " ")
}
