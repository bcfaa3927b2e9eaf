// Package sampledata creates the "shop" sample database that the demo, the
// tests and the benchmarks copy: customers, products, orders and order
// items with foreign keys, secondary indexes, a view, a trigger, a stored
// procedure, a function and an event, and column types that copies often get wrong
// (utf8mb4 beyond the BMP, DECIMAL, DATETIME(6), ENUM, SET, JSON, BLOB with
// NUL, tab and newline bytes, a generated column, a composite primary key).
//
// Rows are generated inside the server from MariaDB's SEQUENCE engine, so a
// million rows take seconds, and deterministically: the same scale gives the
// same data.
package sampledata

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Size returns the number of rows per table that Create makes for scale:
// scale orders, scale/5 customers, 1000 products and 3*scale order items.
func Size(scale int) (customers, products, orders, items int) {
	return max(scale/5, 1), 1000, scale, 3 * scale
}

// Create makes database on db if it does not exist and fills it for
// scale (number of orders; at least 1). The database must not hold any of
// the sample tables yet. It needs the SEQUENCE engine
// (MariaDB 10.0.3 and later).
func Create(ctx context.Context, db *sql.DB, database string, scale int) error {
	if scale < 1 {
		return fmt.Errorf("sampledata: scale %d is not positive", scale)
	}
	customers, products, orders, _ := Size(scale)
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sampledata: %w", err)
	}
	defer conn.Close()
	q := schema.QuoteIdent(database)
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + q + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
		"USE " + q,
		`CREATE TABLE customers (
			id INT UNSIGNED NOT NULL PRIMARY KEY,
			name VARCHAR(100) NOT NULL,
			email VARCHAR(191) NOT NULL,
			city VARCHAR(64) NULL,
			created_at DATETIME(6) NOT NULL,
			UNIQUE KEY uk_email (email),
			KEY idx_city (city)
		) ENGINE=InnoDB`,
		`CREATE TABLE products (
			id INT UNSIGNED NOT NULL PRIMARY KEY,
			sku CHAR(12) CHARACTER SET ascii NOT NULL,
			title VARCHAR(200) NOT NULL,
			price DECIMAL(12,2) NOT NULL,
			status ENUM('draft','active','retired') NOT NULL DEFAULT 'active',
			tags SET('new','sale','eco','gift') NOT NULL DEFAULT '',
			attrs JSON NULL,
			image BLOB NULL,
			price_cents BIGINT AS (price * 100) PERSISTENT,
			UNIQUE KEY uk_sku (sku)
		) ENGINE=InnoDB`,
		`CREATE TABLE orders (
			id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
			customer_id INT UNSIGNED NOT NULL,
			status ENUM('new','paid','shipped','canceled') NOT NULL,
			total DECIMAL(14,2) NOT NULL,
			note VARCHAR(255) NOT NULL,
			created_at DATETIME(6) NOT NULL,
			KEY idx_customer_created (customer_id, created_at),
			KEY idx_status (status),
			CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
		) ENGINE=InnoDB`,
		`CREATE TABLE order_items (
			order_id BIGINT UNSIGNED NOT NULL,
			line SMALLINT UNSIGNED NOT NULL,
			product_id INT UNSIGNED NOT NULL,
			qty INT NOT NULL,
			price DECIMAL(12,2) NOT NULL,
			PRIMARY KEY (order_id, line),
			KEY idx_product (product_id),
			CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
			CONSTRAINT fk_items_product FOREIGN KEY (product_id) REFERENCES products (id)
		) ENGINE=InnoDB`,
		`CREATE TABLE audit_log (
			id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			order_id BIGINT UNSIGNED NOT NULL,
			action VARCHAR(16) NOT NULL,
			at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
		) ENGINE=InnoDB`,
		"SET SESSION foreign_key_checks = 0, unique_checks = 0",
		fmt.Sprintf(`INSERT INTO customers SELECT seq,
			CONCAT(ELT(1 + seq %% 6, 'Ana', 'Bjørn', 'Chloé', '王芳', 'Ольга', 'Zoë 🦊'), ' #', seq),
			CONCAT('user', seq, '@example.com'),
			IF(seq %% 7 = 0, NULL, ELT(1 + seq %% 5, 'Berlin', 'São Paulo', '東京', 'Kraków', 'Austin')),
			TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq * 37 SECOND + INTERVAL seq %% 1000000 MICROSECOND
			FROM seq_1_to_%d`, customers),
		fmt.Sprintf(`INSERT INTO products (id, sku, title, price, status, tags, attrs, image) SELECT seq,
			CONCAT('SKU-', LPAD(seq, 8, '0')),
			CONCAT('Product ', seq, IF(seq %% 11 = 0, ' "quoted" \\ back\\slash', ''), IF(seq %% 13 = 0, ' émoji 😀', '')),
			ROUND(seq * 1.37 %% 1000, 2),
			ELT(1 + seq %% 3, 'draft', 'active', 'retired'),
			ELT(1 + seq %% 5, '', 'new', 'sale,eco', 'gift', 'new,sale,eco,gift'),
			IF(seq %% 4 = 0, NULL, JSON_OBJECT('weight', seq %% 50, 'color', ELT(1 + seq %% 3, 'red', 'green', 'blue'))),
			IF(seq %% 9 = 0, NULL, CONCAT(UNHEX('00FF0A09'), REPEAT(CHAR(seq %% 256), seq %% 40), UNHEX('0D0A5C27')))
			FROM seq_1_to_%d`, products),
		fmt.Sprintf(`INSERT INTO orders SELECT seq,
			1 + (seq * 7919) %% %d,
			ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'canceled'),
			ROUND((seq * 7.31) %% 5000, 2),
			CONCAT('order ', seq, ': ', SUBSTRING(REPEAT(MD5(seq), 8), 1, 40 + seq %% 160)),
			TIMESTAMP'2024-06-01 00:00:00' + INTERVAL seq SECOND + INTERVAL (seq * 13) %% 1000000 MICROSECOND
			FROM seq_1_to_%d`, customers, orders),
		fmt.Sprintf(`INSERT INTO order_items SELECT o.seq, l.seq, 1 + (o.seq * 31 + l.seq) %% %d, 1 + (o.seq + l.seq) %% 5,
			ROUND(((o.seq * 31 + l.seq) %% 1000) * 1.37, 2)
			FROM seq_1_to_%d o JOIN seq_1_to_3 l`, products, orders),
		"SET SESSION foreign_key_checks = 1, unique_checks = 1",
		`CREATE VIEW order_totals AS
			SELECT o.id AS order_id, o.customer_id, SUM(i.qty * i.price) AS items_total
			FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.customer_id`,
		`CREATE TRIGGER orders_audit AFTER UPDATE ON orders FOR EACH ROW
			INSERT INTO audit_log (order_id, action) VALUES (NEW.id, NEW.status)`,
		`CREATE PROCEDURE cancel_order(IN p_id BIGINT UNSIGNED)
			UPDATE orders SET status = 'canceled' WHERE id = p_id`,
		`CREATE FUNCTION order_count(p_customer INT UNSIGNED) RETURNS INT READS SQL DATA
			RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = p_customer)`,
		`CREATE EVENT purge_audit_log ON SCHEDULE EVERY 1 DAY DISABLE
			DO DELETE FROM audit_log WHERE at < NOW() - INTERVAL 30 DAY`,
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sampledata: database %s: %w\n%s", q, err, s)
		}
	}
	return nil
}
