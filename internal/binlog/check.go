package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
)

// Flavors of source.
const (
	MariaDB = gomysql.MariaDBFlavor
	MySQL   = gomysql.MySQLFlavor
)

// Source is what Check found on a source server.
type Source struct {
	Server   string // host:port, as given to Check
	Flavor   string // MariaDB or MySQL
	Version  string
	ServerID uint32
	// Position is the source's current GTID position (CurrentPosition).
	Position string
	// FirstBinlog is the oldest binary log file the source still has.
	FirstBinlog string
	// Retention is how long the source keeps a binary log before it
	// purges it (binlog_expire_logs_seconds, or expire_logs_days); 0 when
	// it purges only on demand. A copy that takes longer than this loses
	// the position it started from.
	Retention time.Duration
}

// Check reads the settings of the source behind db (server is its
// host:port, for messages) and refuses, with a *SettingError naming the
// server and the setting, a source whose binary log is off (ErrBinlogOff),
// not in ROW format (ErrBinlogFormat), without full row images
// (ErrRowImage) or full row metadata (ErrRowMetadata), or without GTIDs
// (ErrNoGTID). With start set it also refuses a start position whose
// binary log has been purged (ErrPurged) or that the source never logged
// (ErrPositionAhead). start "" is checked as the start of the binary log.
// The MySQL flavor follows MySQL 8.0's documentation and is untested.
func Check(ctx context.Context, db *sql.DB, server, start string) (Source, error) {
	src := Source{Server: server}
	vars, err := globals(ctx, db, "version", "server_id", "log_bin", "binlog_format", "binlog_row_image",
		"binlog_row_metadata", "gtid_mode", "binlog_expire_logs_seconds", "expire_logs_days")
	if err != nil {
		return src, fmt.Errorf("binlog: server %s: %w", server, err)
	}
	src.Version = vars["version"]
	src.Flavor = MySQL
	if strings.Contains(strings.ToLower(src.Version), "mariadb") {
		src.Flavor = MariaDB
	}
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	src.ServerID = uint32(id)
	need := func(setting, want string, sentinel error) error {
		if v, ok := vars[setting]; !ok || !strings.EqualFold(v, want) {
			if !ok {
				v = "unsupported"
			}
			return &SettingError{Server: server, Setting: setting, Value: v, Want: want, Err: sentinel}
		}
		return nil
	}
	if err := errors.Join(need("log_bin", "ON", ErrBinlogOff), need("binlog_format", "ROW", ErrBinlogFormat),
		need("binlog_row_image", "FULL", ErrRowImage), need("binlog_row_metadata", "FULL", ErrRowMetadata)); err != nil {
		return src, err
	}
	if src.Flavor == MySQL {
		if err := need("gtid_mode", "ON", ErrNoGTID); err != nil {
			return src, err
		}
	}
	if s, _ := strconv.ParseFloat(vars["binlog_expire_logs_seconds"], 64); s > 0 {
		src.Retention = time.Duration(s * float64(time.Second))
	} else if d, _ := strconv.ParseFloat(vars["expire_logs_days"], 64); d > 0 {
		src.Retention = time.Duration(d * 24 * float64(time.Hour))
	}
	if src.Position, err = CurrentPosition(ctx, db, src.Flavor); err != nil {
		return src, fmt.Errorf("binlog: server %s: %w", server, err)
	}
	if src.FirstBinlog, err = firstBinlog(ctx, db); err != nil {
		return src, fmt.Errorf("binlog: server %s: %w", server, err)
	}
	if err := checkStart(ctx, db, src, start); err != nil {
		return src, err
	}
	return src, nil
}

// globals reads global variables by name; names the server does not know
// are missing from the map.
func globals(ctx context.Context, db *sql.DB, names ...string) (map[string]string, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = rowcodec.String(n)
	}
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ("+strings.Join(quoted, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("reading global variables: %w", err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("reading global variables: %w", err)
		}
		vars[strings.ToLower(name)] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading global variables: %w", err)
	}
	return vars, nil
}

// ServerFlavor is the flavor (MariaDB or MySQL) of the server db reaches,
// from its version.
func ServerFlavor(ctx context.Context, db *sql.DB) (string, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", fmt.Errorf("reading the server version: %w", err)
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return MariaDB, nil
	}
	return MySQL, nil
}

// CurrentPosition is the GTID position of everything the source has
// logged so far: @@gtid_binlog_pos on MariaDB, @@gtid_executed on MySQL.
// A stream whose Stats().Position contains it (PositionContains) has
// caught up with the moment it was read.
func CurrentPosition(ctx context.Context, db *sql.DB, flavor string) (string, error) {
	q := "SELECT @@GLOBAL.gtid_binlog_pos"
	if flavor == MySQL {
		q = "SELECT @@GLOBAL.gtid_executed"
	}
	var pos string
	if err := db.QueryRowContext(ctx, q).Scan(&pos); err != nil {
		return "", fmt.Errorf("reading the GTID position: %w", err)
	}
	return strings.ReplaceAll(pos, "\n", ""), nil
}

// PositionContains reports whether position have includes every
// transaction of want (both of flavor).
func PositionContains(flavor, have, want string) (bool, error) {
	h, err := gomysql.ParseGTIDSet(flavor, have)
	if err != nil {
		return false, fmt.Errorf("binlog: position %q: %w", have, err)
	}
	w, err := gomysql.ParseGTIDSet(flavor, want)
	if err != nil {
		return false, fmt.Errorf("binlog: position %q: %w", want, err)
	}
	return h.Contain(w), nil
}

// TxnsBehind is how many transactions of position want (both of flavor)
// position have lacks: the transactions a stream at have has still to
// read to reach want. On MariaDB the difference of the sequence numbers of
// each domain; on MySQL the GTIDs of want less those of have, counted as
// if have were a prefix of want (a stream's position is); untested.
func TxnsBehind(flavor, have, want string) (int64, error) {
	if flavor == MySQL {
		return txnsBehindMySQL(have, want)
	}
	h, err := parseMariaDB(have)
	if err != nil {
		return 0, fmt.Errorf("binlog: position %q: %w", have, err)
	}
	w, err := parseMariaDB(want)
	if err != nil {
		return 0, fmt.Errorf("binlog: position %q: %w", want, err)
	}
	var n int64
	for domain, seq := range w {
		if seq > h[domain] {
			n += int64(seq - h[domain])
		}
	}
	return n, nil
}

// txnsBehindMySQL is TxnsBehind of MySQL GTID sets. Written from MySQL
// 8.0's documentation; untested.
func txnsBehindMySQL(have, want string) (int64, error) {
	count := func(text string) (int64, error) {
		set, err := gomysql.ParseMysqlGTIDSet(text)
		if err != nil {
			return 0, fmt.Errorf("binlog: position %q: %w", text, err)
		}
		var n int64
		for _, tags := range *set.(*gomysql.MysqlGTIDSet) {
			for _, intervals := range tags {
				for _, i := range intervals {
					n += i.Stop - i.Start
				}
			}
		}
		return n, nil
	}
	h, err := count(have)
	if err != nil {
		return 0, err
	}
	w, err := count(want)
	if err != nil {
		return 0, err
	}
	return max(w-h, 0), nil
}

// firstBinlog is the name of the oldest binary log file.
func firstBinlog(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	var name string
	if rows.Next() {
		dest := make([]any, len(cols))
		dest[0] = &name
		for i := 1; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return "", fmt.Errorf("SHOW BINARY LOGS: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	if name == "" {
		return "", errors.New("SHOW BINARY LOGS lists no file")
	}
	return name, nil
}

// checkStart refuses a start position the source cannot stream from.
func checkStart(ctx context.Context, db *sql.DB, src Source, start string) error {
	if src.Flavor == MySQL {
		return checkStartMySQL(ctx, db, src, start)
	}
	want, err := parseMariaDB(start)
	if err != nil {
		return fmt.Errorf("binlog: start position %q: %w", start, err)
	}
	// The Gtid_list event that opens the oldest binary log lists, per
	// domain and server, the last GTID logged before it: everything up to
	// there is gone.
	gone, err := gtidList(ctx, db, src.FirstBinlog)
	if err != nil {
		return fmt.Errorf("binlog: server %s: %w", src.Server, err)
	}
	purged, err := parseMariaDB(gone)
	if err != nil {
		return fmt.Errorf("binlog: server %s: Gtid_list of %s %q: %w", src.Server, src.FirstBinlog, gone, err)
	}
	for domain, seq := range purged {
		if want[domain] < seq {
			return fmt.Errorf("binlog: server %s: start position %q needs domain %d after seq %d, but %s begins after %d-*-%d: %w",
				src.Server, start, domain, want[domain], src.FirstBinlog, domain, seq, ErrPurged)
		}
	}
	var state string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_state").Scan(&state); err != nil {
		return fmt.Errorf("binlog: server %s: reading gtid_binlog_state: %w", src.Server, err)
	}
	logged, err := parseMariaDB(state)
	if err != nil {
		return fmt.Errorf("binlog: server %s: gtid_binlog_state %q: %w", src.Server, state, err)
	}
	for domain, seq := range want {
		if logged[domain] < seq {
			return fmt.Errorf("binlog: server %s: start position %q has domain %d at seq %d, the source's binary log only %d: %w",
				src.Server, start, domain, seq, logged[domain], ErrPositionAhead)
		}
	}
	return nil
}

// gtidList is the list of the Gtid_list event that opens a MariaDB binary
// log file.
func gtidList(ctx context.Context, db *sql.DB, file string) (string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINLOG EVENTS IN "+rowcodec.String(file)+" LIMIT 5")
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ, info string
		var pos, serverID, end uint64
		if err := rows.Scan(&name, &pos, &typ, &serverID, &end, &info); err != nil {
			return "", fmt.Errorf("reading %s: %w", file, err)
		}
		if typ == "Gtid_list" {
			return strings.Trim(info, "[] "), nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	return "", fmt.Errorf("no Gtid_list event at the start of %s", file)
}

// parseMariaDB reads a MariaDB GTID list into the highest seq per domain.
func parseMariaDB(list string) (map[uint32]uint64, error) {
	seqs := map[uint32]uint64{}
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		g, err := gomysql.ParseMariadbGTID(part)
		if err != nil {
			return nil, err
		}
		seqs[g.DomainID] = max(seqs[g.DomainID], g.SequenceNumber)
	}
	return seqs, nil
}

// checkStartMySQL: every purged transaction must be in the start set, and
// the start set in the executed one. Written from MySQL 8.0's
// documentation (gtid_purged, gtid_executed); untested.
func checkStartMySQL(ctx context.Context, db *sql.DB, src Source, start string) error {
	want, err := gomysql.ParseMysqlGTIDSet(start)
	if err != nil {
		return fmt.Errorf("binlog: start position %q: %w", start, err)
	}
	var purgedText string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_purged").Scan(&purgedText); err != nil {
		return fmt.Errorf("binlog: server %s: reading gtid_purged: %w", src.Server, err)
	}
	purged, err := gomysql.ParseMysqlGTIDSet(strings.ReplaceAll(purgedText, "\n", ""))
	if err != nil {
		return fmt.Errorf("binlog: server %s: gtid_purged %q: %w", src.Server, purgedText, err)
	}
	if !want.Contain(purged) {
		return fmt.Errorf("binlog: server %s: start position %q lacks purged transactions %s: %w", src.Server, start, purgedText, ErrPurged)
	}
	executed, err := gomysql.ParseMysqlGTIDSet(src.Position)
	if err != nil {
		return fmt.Errorf("binlog: server %s: gtid_executed %q: %w", src.Server, src.Position, err)
	}
	if !executed.Contain(want) {
		return fmt.Errorf("binlog: server %s: start position %q is not within gtid_executed %s: %w", src.Server, start, src.Position, ErrPositionAhead)
	}
	return nil
}
