package mysqlcli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionFileIsPrivateAndReadByTheClient(t *testing.T) {
	client, err := Find("", "mariadb", "mysql")
	if err != nil {
		t.Fatalf("%v: run make test, which installs mariadb-client", err)
	}
	const password = `p#a;s"s\w'o rd` + "\t="
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", password, "tcp", "127.0.0.1:3307"
	dir := t.TempDir()
	f, err := WriteOptionFile(cfg, dir)
	require.NoError(t, err)

	info, err := os.Stat(f.Path())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	info, err = os.Stat(filepath.Dir(f.Path()))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	assert.True(t, strings.HasPrefix(f.Arg(), "--defaults-file="))

	// The client reads back exactly what was written.
	out, err := exec.Command(client, f.Arg(), "--print-defaults").Output()
	require.NoError(t, err)
	for _, want := range []string{"--user=app", "--password=" + password, "--host=127.0.0.1", "--port=3307", "--protocol=tcp"} {
		assert.Contains(t, string(out), want)
	}

	require.NoError(t, f.Remove())
	require.NoError(t, f.Remove(), "Remove twice")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestOptionFileRefusesWhatItCannotExpress(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", "127.0.0.1:3306"
	cfg.TLSConfig = "custom-ca"
	_, err := WriteOptionFile(cfg, t.TempDir())
	assert.ErrorContains(t, err, "tls=custom-ca")
	cfg.TLSConfig, cfg.Net = "", "pipe"
	_, err = WriteOptionFile(cfg, t.TempDir())
	assert.ErrorContains(t, err, `network "pipe"`)
}

func TestFind(t *testing.T) {
	_, err := Find("/nonexistent/mariadb-dump")
	assert.ErrorIs(t, err, ErrNoClient)
	assert.ErrorContains(t, err, "/nonexistent/mariadb-dump")
	_, err = Find("", "no-such-client-a", "no-such-client-b")
	assert.ErrorIs(t, err, ErrNoClient)
	assert.ErrorContains(t, err, "no-such-client-a")
}

func TestSupports(t *testing.T) {
	client, err := Find("", "mariadb")
	require.NoError(t, err)
	assert.True(t, Supports(context.Background(), client, "print-query-on-error"))
	assert.False(t, Supports(context.Background(), client, "no-such-option-at-all"))
}

func TestLimitedBuffer(t *testing.T) {
	b := &LimitedBuffer{Max: 5}
	n, err := b.Write([]byte("abc"))
	assert.Equal(t, 3, n)
	assert.NoError(t, err)
	n, _ = b.Write([]byte("defgh"))
	assert.Equal(t, 5, n)
	assert.Equal(t, "abcde... [3 more bytes]", b.String())
}
