package conn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 2, &servers)) }

func configFor(addr, password string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", password, "tcp", addr
	return cfg
}

func TestOpenSilentHostTimesOutInHandshake(t *testing.T) {
	addr := sandboxtest.SilentHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // guard only
	defer cancel()
	_, err := Open(ctx, configFor(addr, "s3cret-pw"), Options{Timeouts: Timeouts{Connect: 300 * time.Millisecond}})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Open against a silent host: %v, want *conn.Error", err)
	}
	if ce.Stage != StageHandshake || ce.Endpoint != addr || !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %q: stage %q endpoint %q timeout %v; want handshake, %s, timeout", err, ce.Stage, ce.Endpoint, errors.Is(err, ErrTimeout), addr)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error repeats the password: %v", err)
	}
}

func TestOpenRefusedPortFailsInDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Open(context.Background(), configFor(addr, ""), Options{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Stage != StageDial || errors.Is(err, ErrTimeout) {
		t.Fatalf("Open against a closed port: %v, want a dial error that is not a timeout", err)
	}
}

func TestOpenWrongPasswordFailsInHandshake(t *testing.T) {
	s := servers[0]
	cfg := configFor(s.Addr(), "not-the-password")
	cfg.User = s.User()
	_, err := Open(context.Background(), cfg, Options{})
	var ce *Error
	var me *mysql.MySQLError
	if !errors.As(err, &ce) || ce.Stage != StageHandshake || !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("Open with a wrong password: %v, want a handshake error wrapping MySQL error 1045", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("error repeats the password: %v", err)
	}
}

func TestOpenSetsTimeoutsAndSessionVariables(t *testing.T) {
	s := servers[0]
	cfg := s.Config("")
	db, err := Open(context.Background(), cfg, Options{MaxConns: 2, Params: map[string]string{"time_zone": "'+00:00'"}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tz string
	if err := db.QueryRow("SELECT @@session.time_zone").Scan(&tz); err != nil || tz != "+00:00" {
		t.Fatalf("session time_zone %q, %v; want +00:00", tz, err)
	}
	if cfg.InterpolateParams || cfg.Timeout != 0 || cfg.Params["time_zone"] != "" {
		t.Fatalf("Open changed the caller's config: %+v", cfg)
	}
	if got := db.Stats().MaxOpenConnections; got != 2 {
		t.Fatalf("MaxOpenConnections %d, want 2", got)
	}
}

func TestTimeoutsDefaults(t *testing.T) {
	got := Timeouts{Read: -1, Write: -1}.withDefaults()
	if got != (Timeouts{Connect: DefaultConnectTimeout}) {
		t.Fatalf("withDefaults of {Read:-1, Write:-1} = %+v", got)
	}
	got = Timeouts{Connect: time.Second, Read: 2 * time.Second}.withDefaults()
	if got != (Timeouts{Connect: time.Second, Read: 2 * time.Second, Write: DefaultWriteTimeout}) {
		t.Fatalf("withDefaults kept the wrong fields: %+v", got)
	}
}

func TestParseDSNErrorHidesDSN(t *testing.T) {
	_, err := ParseDSN("app:pa55word@tcp(host:3306/db")
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Fatalf("ParseDSN of a broken DSN: %v; want an error without the password", err)
	}
}

func TestDriverLogLinesGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	driverLogger{slog.New(slog.NewTextHandler(&buf, nil))}.Print("packets.go:58 ", "unexpected EOF")
	if !strings.Contains(buf.String(), `message="packets.go:58 unexpected EOF"`) {
		t.Fatalf("slog got %q", buf.String())
	}
	driverLogger{}.Print("dropped") // nil logger discards
}

func TestIdentifyTellsServersApartWhateverTheSpelling(t *testing.T) {
	ctx := context.Background()
	open := func(s *sandbox.Server, host string) Identity {
		t.Helper()
		cfg := s.Config("")
		cfg.Addr = net.JoinHostPort(host, strings.TrimPrefix(s.Addr()[strings.LastIndex(s.Addr(), ":"):], ":"))
		db, err := Open(ctx, cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		id, err := Identify(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a1, a2, b := open(servers[0], "127.0.0.1"), open(servers[0], "localhost"), open(servers[1], "127.0.0.1")
	if !a1.Same(a2) {
		t.Fatalf("127.0.0.1 and localhost of one server differ: %s / %s", a1, a2)
	}
	if a1.Same(b) {
		t.Fatalf("two servers look the same: %s / %s", a1, b)
	}
	if a1.Port == 0 || a1.Datadir == "" || a1.Hostname == "" {
		t.Fatalf("identity incomplete: %+v", a1)
	}
}

func TestSame(t *testing.T) {
	base := Identity{ServerID: 1, Hostname: "db1", Port: 3306, Datadir: "/var/lib/mysql/"}
	for _, tc := range []struct {
		name string
		b    Identity
		same bool
	}{
		{"equal", base, true},
		{"other port", Identity{ServerID: 1, Hostname: "db1", Port: 3307, Datadir: "/var/lib/mysql/"}, false},
		{"other datadir", Identity{ServerID: 1, Hostname: "db1", Port: 3306, Datadir: "/srv/mysql/"}, false},
		{"other server id", Identity{ServerID: 2, Hostname: "db1", Port: 3306, Datadir: "/var/lib/mysql/"}, false},
		{"one has a uuid", Identity{UUID: "u1", ServerID: 1, Hostname: "db1", Port: 3306, Datadir: "/var/lib/mysql/"}, false},
	} {
		if got := base.Same(tc.b); got != tc.same {
			t.Errorf("%s: Same = %v", tc.name, got)
		}
	}
	if !(Identity{UUID: "u1", Port: 1}).Same(Identity{UUID: "u1", Port: 2}) {
		t.Error("equal UUIDs are one server")
	}
	if (Identity{UUID: "u1"}).Same(Identity{UUID: "u2"}) {
		t.Error("different UUIDs are two servers")
	}
}

// TestOpenTriesTheOtherIsolationSpelling checks the fallback between
// MySQL 8.0's transaction_isolation and MariaDB's tx_isolation: MariaDB
// 10.11 knows only the second, so a pool asking for the first must still
// open, with the isolation level set.
func TestOpenTriesTheOtherIsolationSpelling(t *testing.T) {
	var version string
	db, err := Open(context.Background(), servers[0].Config(""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.QueryRow("SELECT VERSION()").Scan(&version)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(version, "MariaDB") || !strings.HasPrefix(version, "10.") {
		t.Skipf("server %s knows both spellings", version)
	}
	db, err = Open(context.Background(), servers[0].Config(""), Options{Params: map[string]string{"transaction_isolation": "'READ-COMMITTED'"}})
	if err != nil {
		t.Fatalf("Open with transaction_isolation on %s: %v", version, err)
	}
	defer db.Close()
	var level string
	if err := db.QueryRow("SELECT @@session.tx_isolation").Scan(&level); err != nil || level != "READ-COMMITTED" {
		t.Fatalf("session isolation %q, %v; want READ-COMMITTED", level, err)
	}
}
