package conn

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// Querier is what Identify reads through: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Identity is what a server is, independent of how a DSN spells its host:
// 127.0.0.1, localhost, a DNS alias or a proxy all lead to the same one.
type Identity struct {
	UUID     string // @@server_uuid (MySQL); empty on MariaDB, which has none
	ServerID uint32 // @@server_id
	Hostname string // @@hostname
	Port     int    // @@port
	Datadir  string // @@datadir
}

// Identify reads the identity of the server behind q.
func Identify(ctx context.Context, q Querier) (Identity, error) {
	rows, err := q.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('server_uuid', 'server_id', 'hostname', 'port', 'datadir')")
	if err != nil {
		return Identity{}, fmt.Errorf("read server identity: %w", err)
	}
	defer rows.Close()
	var id Identity
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return Identity{}, fmt.Errorf("read server identity: %w", err)
		}
		switch name {
		case "server_uuid":
			id.UUID = value
		case "server_id":
			n, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return Identity{}, fmt.Errorf("read server identity: server_id %q: %w", value, err)
			}
			id.ServerID = uint32(n)
		case "hostname":
			id.Hostname = value
		case "port":
			n, err := strconv.Atoi(value)
			if err != nil {
				return Identity{}, fmt.Errorf("read server identity: port %q: %w", value, err)
			}
			id.Port = n
		case "datadir":
			id.Datadir = value
		}
	}
	if err := rows.Err(); err != nil {
		return Identity{}, fmt.Errorf("read server identity: %w", err)
	}
	if id.UUID == "" && id.Hostname == "" && id.Datadir == "" {
		return Identity{}, fmt.Errorf("read server identity: the server shows none of server_uuid, hostname and datadir")
	}
	return id, nil
}

// Same reports whether a and b are one server: equal UUIDs when both have
// one, else equal server id, hostname, port and data directory.
func (a Identity) Same(b Identity) bool {
	if a.UUID != "" && b.UUID != "" {
		return a.UUID == b.UUID
	}
	return a.UUID == b.UUID && a.ServerID == b.ServerID && a.Hostname == b.Hostname && a.Port == b.Port && a.Datadir == b.Datadir
}

// String describes the server for messages.
func (a Identity) String() string {
	s := fmt.Sprintf("server %d on %s:%d (%s)", a.ServerID, a.Hostname, a.Port, a.Datadir)
	if a.UUID != "" {
		s += " uuid " + a.UUID
	}
	return s
}
