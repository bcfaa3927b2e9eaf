package sampledata

// KindsTable creates and fills a table `kinds` whose values a copy or a
// repair gets wrong when it encodes a column as the wrong kind or quotes
// by hand: backslashes and quotes, NUL and Ctrl-Z, a FLOAT with 7
// significant digits, YEAR 0000, BIT(64), INET6, UUID, spatial, JSON, ENUM
// and SET members with quotes and a backslash, NULL, the empty string and
// 'NULL'. Run the statements on a session whose sql_mode has backslash
// escapes (the server's default).
var KindsTable = []string{
	`CREATE TABLE kinds (id INT NOT NULL PRIMARY KEY, txt VARCHAR(50) COLLATE utf8mb4_bin NULL, bin VARBINARY(50) NULL,
		fl FLOAT NULL, y YEAR NULL, b BIT(64) NULL, i6 INET6 NULL, u UUID NULL, g GEOMETRY NULL, js JSON NULL,
		e ENUM('a', 'it''s', 'b\\s') NULL, s SET('x', 'y''z') NULL)`,
	`INSERT INTO kinds VALUES
		(1, 'back\\slash ''q'' "dq"', x'ff00275c22', 0.1234567, 0, 18446744073709551615, '::1', '123e4567-e89b-12d3-a456-426655440000',
			ST_GeomFromText('POINT(1 2)'), '{"a": "b\\\\c"}', 'b\\s', 'x,y''z'),
		(2, 'nul\0 z\Z nl\n', '', 3.4028234e38, 2155, 0, 'ffff::1', '00000000-0000-0000-0000-000000000001', NULL, '[]', 'it''s', ''),
		(3, '', NULL, -1.1754944e-38, 1901, 1, NULL, NULL, NULL, 'null', 'a', 'y''z'),
		(4, 'NULL', 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(5, 'x', NULL, 1, 2024, 5, '::ffff:1.2.3.4', NULL, ST_GeomFromText('LINESTRING(0 0, 1 1)'), '{}', NULL, 'x')`,
}
