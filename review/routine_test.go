package review

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func splitAll(script string) []string {
	sp := newSplitter(script)
	var out []string
	for {
		p, ok := sp.next()
		if !ok {
			return out
		}
		out = append(out, p.text)
	}
}

// TestSplitCompoundWithoutDelimiter checks that a stored program written
// without a DELIMITER line ends at the ; after its body, not at the first
// ; inside it.
func TestSplitCompoundWithoutDelimiter(t *testing.T) {
	cases := []struct {
		first string
		more  int // statements after it
	}{
		{"CREATE PROCEDURE p() BEGIN DECLARE x INT; SET x = 1; IF x > 0 THEN SELECT 1; END IF; CASE x WHEN 1 THEN SELECT 2; END CASE; SELECT CASE WHEN x THEN 1 END; END", 1},
		{"CREATE DEFINER=`root`@`%` TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = 'END;'; END", 1},
		{"CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", 1},
		{"CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC BEGIN l1: LOOP LEAVE l1; END LOOP l1; WHILE a > 0 DO SET a = a - 1; END WHILE; REPEAT SET a = a + 1; UNTIL a > 3 END REPEAT; RETURN a; END", 1},
		{"CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t WHERE id < 0; -- END;\n INSERT INTO t (a) VALUES (1); END", 1},
		{"CREATE OR REPLACE PROCEDURE p() outer_block: BEGIN BEGIN SELECT 1; END; SELECT 2; END outer_block", 2},
	}
	for _, tc := range cases {
		script := tc.first + ";\nSELECT 1;"
		if tc.more == 2 {
			script += " SELECT 2"
		}
		got := splitAll(script)
		require.Len(t, got, 1+tc.more, tc.first)
		assert.Equal(t, tc.first, got[0])
	}
	// With a DELIMITER line the delimiter decides, as before.
	got := splitAll("DELIMITER //\nCREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END//\nDELIMITER ;\nSELECT 1")
	assert.Equal(t, []string{"CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", "SELECT 1"}, got)
	// Other statements still end at the first ;.
	assert.Len(t, splitAll("SELECT CASE WHEN 1 THEN 2 END; BEGIN; SELECT 3"), 3)
}

func TestRecognizeRoutine(t *testing.T) {
	text := "CREATE DEFINER=`app`@`%` TRIGGER IF NOT EXISTS shop.trg_ai AFTER INSERT ON `shop`.`orders` FOR EACH ROW FOLLOWS trg_other BEGIN SET @n = 1; END"
	r := recognizeRoutine(text)
	require.NotNil(t, r)
	assert.Equal(t, Routine{Action: "CREATE", Kind: "TRIGGER", Database: "shop", Name: "trg_ai", Table: "orders", TableDatabase: "shop",
		Timing: "AFTER", Event: "INSERT", BodyStart: len(text) - len("BEGIN SET @n = 1; END"), BodyEnd: len(text)}, *r)

	text = "CREATE FUNCTION f(a VARCHAR(10), b INT) RETURNS VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DETERMINISTIC READS SQL DATA COMMENT 'x' RETURN CONCAT(a, b)"
	r = recognizeRoutine(text)
	require.NotNil(t, r)
	assert.Equal(t, "f", r.Name)
	assert.Equal(t, "RETURN CONCAT(a, b)", text[r.BodyStart:r.BodyEnd])

	text = "CREATE DEFINER=CURRENT_USER EVENT ev ON SCHEDULE EVERY 1 HOUR COMMENT 'purge' DO DELETE FROM t WHERE id < 0"
	r = recognizeRoutine(text)
	require.NotNil(t, r)
	assert.Equal(t, "EVENT", r.Kind)
	assert.Equal(t, "ev", r.Name)
	assert.Equal(t, "DELETE FROM t WHERE id < 0", text[r.BodyStart:r.BodyEnd])

	r = recognizeRoutine("DROP TRIGGER IF EXISTS shop.trg_ai")
	require.NotNil(t, r)
	assert.Equal(t, Routine{Action: "DROP", Kind: "TRIGGER", Database: "shop", Name: "trg_ai"}, *r)

	r = recognizeRoutine("CREATE OR REPLACE AGGREGATE FUNCTION agg(x INT) RETURNS INT BEGIN RETURN 1; END")
	require.NotNil(t, r)
	assert.Equal(t, "agg", r.Name)

	for _, other := range []string{"CREATE TABLE t (id INT)", "DROP TABLE t", "SELECT 1", "CREATE", ""} {
		assert.Nil(t, recognizeRoutine(other), other)
	}
}

// TestRoutineRules checks that statements the parser cannot read but the
// reviewer recognises reach the rules that look at stored programs.
func TestRoutineRules(t *testing.T) {
	trigger := "CREATE TRIGGER trg_ai AFTER INSERT ON big FOR EACH ROW BEGIN SET @n = @n + 1; SET @m = 2; END;\nSELECT 1"
	cases := []struct {
		rule   string
		params map[string]any
		script string
		fires  bool
	}{
		{"script.banned-statement", map[string]any{"types": []string{"CREATE TRIGGER"}}, trigger, true},
		{"script.banned-statement", map[string]any{"types": []string{"CREATE TRIGGER"}}, "CREATE TABLE t (id INT PRIMARY KEY)", false},
		{"script.banned-statement", map[string]any{"types": []string{"CREATE FUNCTION"}}, "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1", true},
		{"script.banned-statement", map[string]any{"types": []string{"DROP EVENT"}}, "DROP EVENT IF EXISTS ev", true},
		{"script.unknown-table", nil, "CREATE TRIGGER trg_ai AFTER INSERT ON nope FOR EACH ROW SET @n = 1", true},
		{"script.unknown-table", nil, trigger, false},
		{"ddl.stored-program", nil, trigger, true},
		{"ddl.stored-program", nil, "CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DO DELETE FROM big WHERE id < 0", true},
		{"ddl.stored-program", nil, "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", true},
		{"ddl.stored-program", map[string]any{"kinds": []string{"EVENT"}}, trigger, false},
		{"ddl.stored-program", nil, "DROP FUNCTION IF EXISTS f", false},
		{"naming.lowercase", nil, "CREATE TRIGGER Trg_AI AFTER INSERT ON big FOR EACH ROW SET @n = 1", true},
		{"naming.lowercase", nil, trigger, false},
		{"parse.error", nil, "CREATE PROCEDURE p() BEGIN UPDATE big SET a = 1 WHERE id = 1; SELECT 2; END;\nSELECT 1", false},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got := reviewWith(t, tc.rule, tc.params, tc.script)
			if tc.fires {
				assert.NotEmpty(t, got, "%s with %v should fire on %q", tc.rule, tc.params, tc.script)
			} else {
				assert.Empty(t, got, "%s with %v should not fire on %q", tc.rule, tc.params, tc.script)
			}
		})
	}

	r, err := New()
	require.NoError(t, err)
	res, err := r.Review(context.Background(), trigger)
	require.NoError(t, err)
	require.Len(t, res.Statements, 2)
	st := res.Statements[0]
	assert.Equal(t, "CREATE TRIGGER", st.Type)
	assert.Equal(t, []string{"big"}, st.Tables)
	require.NotNil(t, st.Routine)
	assert.Equal(t, "trg_ai", st.Routine.Name)
}

// TestApplySkipsRoutines checks that a schema file with triggers (as
// mysqldump writes them) applies without error.
func TestApplySkipsRoutines(t *testing.T) {
	cat := NewScriptCatalog(nil)
	err := cat.Apply(context.Background(), "shop", "CREATE TABLE t (id INT PRIMARY KEY);\nCREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.id = 1; END;\nCREATE TABLE u (id INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = cat.Table(context.Background(), "shop", "u")
	assert.NoError(t, err)
}
