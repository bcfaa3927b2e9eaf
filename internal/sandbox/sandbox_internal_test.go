package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestNoServerBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := searchDirs
	searchDirs = []string{t.TempDir()}
	defer func() { searchDirs = saved }()

	base := t.TempDir()
	_, err := Start(context.Background(), Options{BaseDir: base})
	if !errors.Is(err, ErrNoServerBinary) {
		t.Fatalf("Start without binaries: %v, want ErrNoServerBinary", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, ErrNoServerBinary.Error()) || !strings.Contains(msg, `run "make test"`) || !strings.Contains(msg, "SHIFTGATE_TEST_DSN") {
		t.Errorf("unhelpful message %q", msg)
	}
	if _, err := StartN(context.Background(), 2, Options{BaseDir: base}); !errors.Is(err, ErrNoServerBinary) {
		t.Errorf("StartN without binaries: %v, want ErrNoServerBinary", err)
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		pw, err := newPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != passwordLen {
			t.Fatalf("password length %d", len(pw))
		}
		for _, c := range passwordMust {
			if !strings.ContainsRune(pw, c) {
				t.Fatalf("password lacks %q", c)
			}
		}
		if strings.ContainsAny(pw, "@/()?&") {
			t.Fatal("password holds a DSN delimiter")
		}
		if seen[pw] {
			t.Fatal("duplicate password")
		}
		seen[pw] = true

		// The password survives the driver's DSN format and parse.
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = userName, pw, "tcp", "127.0.0.1:3306", "db"
		back, err := mysql.ParseDSN(cfg.FormatDSN())
		if err != nil || back.Passwd != pw || back.User != userName || back.DBName != "db" || back.Addr != cfg.Addr {
			t.Fatalf("DSN round trip failed: %v", err)
		}
	}
}

// TestNativePasswordHash checks the hash against the one the server's
// PASSWORD() gives.
func TestNativePasswordHash(t *testing.T) {
	if got, want := nativePasswordHash(`a\'`), "*71EAF6BB233C3BD97C8FFCD3D91500D56BAD41D2"; got != want {
		t.Errorf("nativePasswordHash = %s, want %s", got, want)
	}
}

func TestAutoServerID(t *testing.T) {
	seen := map[uint32]bool{}
	for range 1000 {
		id := autoServerID()
		if id == 0 || seen[id] {
			t.Fatalf("server id %d zero or repeated", id)
		}
		seen[id] = true
	}
}

func TestBadBaseDir(t *testing.T) {
	if _, err := findBinaries(); err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	for _, base := range []string{filepath.Join(tmp, "with space"), filepath.Join(tmp, strings.Repeat("x", 90))} {
		_, err := Start(context.Background(), Options{BaseDir: base})
		if err == nil {
			t.Fatalf("Start(BaseDir %q) succeeded", base)
		}
		t.Log(err)
		if !strings.Contains(err.Error(), "shell metacharacters") && !strings.Contains(err.Error(), "socket path") {
			t.Errorf("Start(BaseDir %q): unclear error %v", base, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(tmp, strings.Repeat("x", 90))); len(entries) != 0 {
		t.Errorf("failed Start left %s behind", entries[0].Name())
	}
}
