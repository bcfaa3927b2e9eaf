INSERT IGNORE INTO dualwrite_state (id) VALUES (1)
