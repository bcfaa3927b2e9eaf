package mysqlcli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// OptionFile is a client option file holding one endpoint's credentials,
// readable only by the current user, in a private directory of its own.
// Pass it to a client with Arg; call Remove when the client has exited.
type OptionFile struct {
	dir  string
	path string
}

// WriteOptionFile writes cfg's address and credentials into a new option
// file under tempDir ("" for the system default). The file is created with
// mode 0600 inside a 0700 directory, so the password never appears on a
// command line or in the environment of a process.
//
// cfg.TLS settings other than "true", "skip-verify" and "preferred" cannot be
// expressed in an option file and are an error.
func WriteOptionFile(cfg *mysql.Config, tempDir string) (*OptionFile, error) {
	var b strings.Builder
	b.WriteString("[client]\n")
	writeOption(&b, "user", cfg.User)
	writeOption(&b, "password", cfg.Passwd)
	switch cfg.Net {
	case "unix":
		writeOption(&b, "socket", cfg.Addr)
	case "tcp", "tcp6", "":
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("mysqlcli: address %q: %w", cfg.Addr, err)
		}
		writeOption(&b, "host", host)
		writeOption(&b, "port", port)
		writeOption(&b, "protocol", "tcp")
	default:
		return nil, fmt.Errorf("mysqlcli: network %q is not supported by the command-line clients", cfg.Net)
	}
	switch cfg.TLSConfig {
	case "", "false":
	case "true":
		writeOption(&b, "ssl", "1")
		writeOption(&b, "ssl-verify-server-cert", "1")
	case "skip-verify", "preferred":
		writeOption(&b, "ssl", "1")
	default:
		return nil, fmt.Errorf("mysqlcli: tls=%s: custom TLS configurations cannot be passed to the command-line clients", cfg.TLSConfig)
	}

	dir, err := os.MkdirTemp(tempDir, "shiftgate-client-")
	if err != nil {
		return nil, fmt.Errorf("mysqlcli: option file: %w", err)
	}
	path := filepath.Join(dir, "client.cnf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("mysqlcli: option file: %w", err)
	}
	return &OptionFile{dir: dir, path: path}, nil
}

// Arg is the command-line argument that makes a client read only this file.
// It must be the client's first argument.
func (f *OptionFile) Arg() string { return "--defaults-file=" + f.path }

// Path is the file's location.
func (f *OptionFile) Path() string { return f.path }

// Remove deletes the file and its directory. It is safe to call twice.
func (f *OptionFile) Remove() error {
	if err := os.RemoveAll(f.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mysqlcli: remove option file: %w", err)
	}
	return nil
}

// writeOption writes name="value", escaped as the option-file reader of
// MySQL and MariaDB expects inside double quotes.
func writeOption(b *strings.Builder, name, value string) {
	if value == "" {
		return
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	fmt.Fprintf(b, "%s=\"%s\"\n", name, r.Replace(value))
}

// Endpoint names cfg's server for messages: host:port or the socket path.
// It never includes credentials.
func Endpoint(cfg *mysql.Config) string {
	return cfg.Addr
}
