// Package cliflag holds what the command-line programs under examples/
// share: DSN flags that keep passwords off the command line, and list
// flags.
package cliflag

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// DSN checks dsn, the value of flag -name of program, and parses it. When the
// DSN holds no password, the one in the environment variable passwordEnv
// (if set) is filled in. A password in a DSN given on the command line
// (onCommandLine) still works but draws a warning on stderr that names
// passwordEnv, since other users of the machine can read command lines.
// Errors never quote the DSN.
func DSN(program, name, dsn, passwordEnv string, onCommandLine bool, stderr io.Writer) (*mysql.Config, error) {
	cfg, err := conn.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", name, err)
	}
	if cfg.Passwd != "" {
		if onCommandLine {
			fmt.Fprintf(stderr, "%s: warning: the -%s DSN holds a password, which other users can read on the command line; set %s instead\n",
				program, name, passwordEnv)
		}
		return cfg, nil
	}
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		cfg.Passwd = pw
	}
	return cfg, nil
}

// List splits a comma-separated flag value, dropping blanks.
func List(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// SideDSN returns the DSN of one side of a copy or comparison ("source" or
// "target"), given as flag -side or in SHIFTGATE_<SIDE>_DSN, with its
// password filled in from SHIFTGATE_<SIDE>_PASSWORD when it has none (see
// DSN).
func SideDSN(program, side, dsn string, onCommandLine bool, stderr io.Writer) (string, error) {
	upper := strings.ToUpper(side)
	if dsn == "" {
		return "", fmt.Errorf("-%s is required (or set SHIFTGATE_%s_DSN)", side, upper)
	}
	cfg, err := DSN(program, side, dsn, "SHIFTGATE_"+upper+"_PASSWORD", onCommandLine, stderr)
	if err != nil {
		return "", err
	}
	return cfg.FormatDSN(), nil
}
