package review

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reviewProd reviews script under ProdPolicy for server s ("" for none
// given) over the example catalog plus table orders, and returns the rule
// IDs found per statement.
func reviewProd(t *testing.T, s Server, script string) (*Result, [][]string) {
	t.Helper()
	cat := exampleCatalog(t)
	require.NoError(t, cat.Apply(context.Background(), "shop", "CREATE TABLE big (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL);\n"+
		"CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, status TINYINT NOT NULL)"))
	opts := []Option{WithPolicy(ProdPolicy()), WithCatalog(cat), WithDefaultDatabase("shop")}
	if s != "" {
		opts = append(opts, WithServer(s))
	}
	r, err := New(opts...)
	require.NoError(t, err)
	res, err := r.Review(context.Background(), script)
	require.NoError(t, err)
	ids := make([][]string, len(res.Statements))
	for i, st := range res.Statements {
		ids[i] = []string{}
		for _, f := range st.Findings {
			ids[i] = append(ids[i], f.Rule)
		}
	}
	return res, ids
}

// TestExecutableComments checks that review sees what the target server
// runs inside /*! and /*M! comments, and points out what they hide.
func TestExecutableComments(t *testing.T) {
	const unknown Server = ""
	cases := []struct {
		name, script string
		server       Server
		want         []string // rules that must fire on the first statement
		not          []string // rules that must not
	}{
		{"mariadb comment on mariadb", "/*M!100000 DELETE FROM orders */", MariaDB1011, []string{"dml.require-where", "script.executable-comment"}, nil},
		{"mariadb comment, server unknown", "/*M!100000 DELETE FROM orders */", unknown, []string{"dml.require-where", "script.executable-comment"}, nil},
		{"mariadb comment is a comment on mysql", "/*M!100000 DELETE FROM orders */", MySQL80, nil, []string{"dml.require-where", "script.executable-comment"}},
		{"versioned mysql comment", "/*!50000 DROP TABLE t */", MariaDB1011, []string{"ddl.drop-table", "script.executable-comment"}, nil},
		{"versioned mysql comment on mysql", "/*!50000 DROP TABLE t */", MySQL80, []string{"ddl.drop-table", "script.executable-comment"}, nil},
		{"versioned mysql comment, server unknown", "/*!50000 DROP TABLE t */", unknown, []string{"ddl.drop-table", "script.executable-comment"}, nil},
		{"no version", "/*! DROP TABLE t */", MySQL80, []string{"ddl.drop-table", "script.executable-comment"}, nil},
		{"mariadb no version", "/*M! DELETE FROM orders */", MariaDB1011, []string{"dml.require-where", "script.executable-comment"}, nil},
		{"after a plain comment", "/* cleanup */ /*M!100000 DELETE FROM orders */", unknown, []string{"dml.require-where", "script.executable-comment"}, nil},
		{"six-digit version newer than the server", "/*M!110500 DELETE FROM orders */", MariaDB1011, nil, []string{"dml.require-where"}},
		{"six-digit version newer, server unknown", "/*M!110500 DELETE FROM orders */", unknown, []string{"dml.require-where"}, nil},
		// Fragments are judged with their statement.
		{"WHERE only for mariadb", "DELETE FROM orders /*M!100000 WHERE id = 1 */", MySQL80, []string{"dml.require-where"}, []string{"script.executable-comment"}},
		{"WHERE on mariadb", "DELETE FROM orders /*M!100000 WHERE id = 1 */", MariaDB1011, []string{"script.executable-comment"}, []string{"dml.require-where"}},
		{"WHERE for a later mysql", "UPDATE orders SET status = 1 /*!80400 WHERE id = 1 */", MySQL80, []string{"dml.require-where"}, nil},
		{"hidden DROP COLUMN", "ALTER TABLE orders ADD COLUMN note INT NOT NULL DEFAULT 0 COMMENT 'n' /*!50000 , DROP COLUMN status */", unknown, []string{"ddl.drop-column", "script.executable-comment"}, nil},
		{"hidden statement after a statement", "UPDATE orders SET status = 1 WHERE id = 1 /*!50000 ; DROP TABLE orders */", unknown, nil, []string{"script.executable-comment"}},
		{"TiDB comment is a comment", "DELETE FROM orders /*T! WHERE id = 1 */", unknown, []string{"dml.require-where"}, []string{"script.executable-comment"}},
		// mysqldump's own uses are judged but not pointed out.
		{"dump header", "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", unknown, nil, []string{"script.executable-comment"}},
		{"dump keys", "/*!40000 ALTER TABLE orders DISABLE KEYS */", unknown, nil, []string{"script.executable-comment"}},
		{"dump partitions", "CREATE TABLE p (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY COMMENT 'id') COMMENT 'p' /*!50100 PARTITION BY HASH (id) PARTITIONS 4 */", unknown, []string{"table.no-partitions"}, []string{"script.executable-comment"}},
		{"global setting", "/*!40101 SET GLOBAL max_connections = 1 */", unknown, []string{"script.banned-statement", "script.executable-comment"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, ids := reviewProd(t, tc.server, tc.script)
			require.NotEmpty(t, ids)
			for _, id := range tc.want {
				assert.Contains(t, ids[0], id, "findings %v", res.Statements[0].Findings)
			}
			for _, id := range tc.not {
				assert.NotContains(t, ids[0], id, "findings %v", res.Statements[0].Findings)
			}
			if len(tc.want) > 0 && slices.Contains(tc.want, "script.executable-comment") {
				assert.False(t, res.Summary.Pass)
			}
		})
	}
}

// TestExecutableCommentSplit checks that a delimiter inside an executable
// comment ends the statement, as in the mysql client, and that the
// statement's text and positions stay those of the script.
func TestExecutableCommentSplit(t *testing.T) {
	res, ids := reviewProd(t, "", "UPDATE orders SET status = 1 WHERE id = 1 /*!50000 ; DROP TABLE orders */;\nSELECT 1 /*!50000 , 'x;*/' */;\n/*M!100000 DELETE\nFROM orders */")
	require.Len(t, res.Statements, 4)
	assert.Equal(t, "UPDATE orders SET status = 1 WHERE id = 1 /*!50000", res.Statements[0].Text)
	assert.Equal(t, "DROP TABLE orders */", res.Statements[1].Text)
	assert.Contains(t, ids[1], "parse.error", "the server cannot run the rest either")
	assert.Equal(t, "SELECT 1 /*!50000 , 'x;*/' */", res.Statements[2].Text, "quotes count inside the comment")
	st := res.Statements[3]
	assert.Equal(t, "DELETE", st.Type)
	assert.Equal(t, KindDML, st.Kind)
	assert.Equal(t, "/*M!100000 DELETE\nFROM orders */", st.Text)
	assert.Equal(t, 3, st.Position.Line)
	assert.Contains(t, ids[3], "dml.require-where")
	for _, f := range st.Findings {
		if f.Rule == "script.executable-comment" {
			assert.Contains(t, f.Message, "the whole DELETE statement is inside the executable comment /*M!100000")
			assert.Contains(t, f.Message, "any server version")
		}
	}
}

// TestExecutableCommentParseError checks that a parse error inside an
// executable comment is placed in the script's text.
func TestExecutableCommentParseError(t *testing.T) {
	res, _ := reviewProd(t, MariaDB1011, "SELECT 1;\n/*!50000 UPDATE orders SET = 1 */")
	f := res.Statements[1].Findings
	require.NotEmpty(t, f)
	assert.Equal(t, "parse.error", f[0].Rule)
	assert.Equal(t, Position{Line: 2, Column: 28, Offset: 37}, f[0].Position)
	assert.Equal(t, "UPDATE", res.Statements[1].Type)
}

func TestScriptCatalogRunsExecutableComments(t *testing.T) {
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(context.Background(), "shop", "/*!50000 CREATE TABLE a (id INT PRIMARY KEY) */;\n/*M!100000 CREATE TABLE b (id INT PRIMARY KEY) */"))
	for _, name := range []string{"a", "b"} {
		_, err := cat.Table(context.Background(), "shop", name)
		assert.NoError(t, err, name)
	}
}

func TestServerText(t *testing.T) {
	maria, mysql := targetOf(MariaDB1011), targetOf(MySQL80)
	for _, tc := range []struct {
		text string
		t    target
		want string
	}{
		{"/*!50000 DROP TABLE t */", maria, "         DROP TABLE t   "},
		{"/*!DROP TABLE t*/", mysql, "   DROP TABLE t  "},
		{"/*M!100000 DROP TABLE t */", mysql, "                          "},
		{"/*M!100000 DROP\nTABLE t */", mysql, "               \n          "},
		{"/*M! DROP TABLE t */", maria, "     DROP TABLE t   "},
		{"/*!80400 x */ y", mysql, "              y"},
		{"/*!101200 x */ y", maria, "               y"},
		{"/*!101199 x */", maria, "          x   "},
		{"/*!101200 x */", target{}, "          x   "},
		{"/*!123 x */", mysql, "   123 x   "},
		{"/* plain */ /*+ hint */ SELECT 1", maria, "/*+ hint */ SELECT 1"},
		{"/*!50000 x", maria, "         x"},
		{"SELECT 1 /*T! ; DROP TABLE t */", target{}, "SELECT 1                       "},
		{"SELECT 1 /*T! x", target{}, "SELECT 1       "},
	} {
		sp := newSplitter(tc.text)
		pc, ok := sp.next()
		require.True(t, ok, tc.text)
		got, _ := serverText(pc.text, pc.execs, tc.t)
		assert.Equal(t, tc.want, got, "%q for %s", tc.text, tc.t)
	}
}
