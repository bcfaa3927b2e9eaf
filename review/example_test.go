package review_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shiftgate/shiftgate/review"
)

// Review a script without a server: the script's own DDL is the schema.
func Example() {
	r, err := review.New(review.WithPolicy(review.ProdPolicy()), review.WithDefaultDatabase("shop"))
	if err != nil {
		panic(err)
	}
	res, err := r.Review(context.Background(), `
CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY COMMENT 'id',
  status TINYINT NOT NULL DEFAULT 0 COMMENT 'state',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'created',
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'updated'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'orders';
DELETE FROM orders WHERE 1 = 1;`)
	if err != nil {
		panic(err)
	}
	for _, f := range res.Findings() {
		fmt.Printf("%d:%d %s %s: %s\n", f.Position.Line, f.Position.Column, f.Level, f.Rule, f.Message)
	}
	fmt.Println("pass:", res.Summary.Pass)
	// Output:
	// 8:26 error dml.always-true-where: the WHERE of this DELETE is always true: it changes every row of table orders
	// 8:1 warning dml.require-limit: DELETE from table orders has no LIMIT
	// 8:1 error script.mixed-ddl-dml: the script mixes DDL and DML: this DELETE follows DDL statements
	// pass: false
}

// A policy loaded from YAML, and the text report.
func ExampleParsePolicy() {
	p, err := review.ParsePolicy([]byte(`
name: team
base: dev
rules:
  dml.require-where: {level: error}
  column.require-comment: {level: off}
`))
	if err != nil {
		panic(err)
	}
	r, err := review.New(review.WithPolicy(p))
	if err != nil {
		panic(err)
	}
	res, _ := r.Review(context.Background(), "UPDATE users SET banned = 1;\nSELECT id FROM users WHERE name LIKE '%bot'")
	_ = res.WriteText(os.Stdout)
	// Output:
	// #1 line 1 col 1  dml  UPDATE  risk moderate
	//     UPDATE users SET banned = 1
	//     ERROR   line:1:1 dml.require-where: UPDATE without WHERE changes every row of table users
	// #2 line 2 col 1  query  SELECT  risk low
	//     SELECT id FROM users WHERE name LIKE '%bot'
	//     WARNING line:2:28 dml.leading-wildcard-like: LIKE '%bot' on column name starts with a wildcard and cannot use an index
	// FAIL under policy team: 2 statements, 1 errors, 1 warnings, 0 notices, highest level error, risk moderate
}

// Predicting how MariaDB 10.11 runs an ALTER, with the table defined by a
// schema file instead of a server.
func ExampleNewScriptCatalog() {
	cat := review.NewScriptCatalog(nil)
	err := cat.Apply(context.Background(), "shop", "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL)")
	if err != nil {
		panic(err)
	}
	r, _ := review.New(review.WithCatalog(cat), review.WithDefaultDatabase("shop"))
	res, _ := r.Review(context.Background(), `ALTER TABLE users MODIFY name VARCHAR(60) NOT NULL;
ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL;
ALTER TABLE users ADD COLUMN email VARCHAR(100) NOT NULL DEFAULT ''`)
	for _, st := range res.Statements {
		fmt.Println(st.Algorithm, st.Text)
	}
	// Output:
	// INSTANT ALTER TABLE users MODIFY name VARCHAR(60) NOT NULL
	// COPY ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL
	// INSTANT ALTER TABLE users ADD COLUMN email VARCHAR(100) NOT NULL DEFAULT ''
}
