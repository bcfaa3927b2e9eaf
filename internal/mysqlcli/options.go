package mysqlcli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shiftgate/shiftgate/internal/conn"
)

// DefaultConnectTimeout is how long a client may take to connect to its
// server and log in when NewOptions is given no timeout.
const DefaultConnectTimeout = conn.DefaultConnectTimeout

// ErrConnectTimeout reports a server that did not complete a login within
// the connect timeout: a host that accepts TCP connections and never
// answers, or one that does not answer at all. It wraps conn.ErrTimeout
// (migrate.ErrTimeout), so one errors.Is tells a timeout whether a pool or
// a client program met it.
var ErrConnectTimeout = fmt.Errorf("mysqlcli: connection %w", conn.ErrTimeout)

// maxOptionsText bounds the option text: outside Linux it is written into
// a pipe before the client starts, and every pipe holds at least this much.
const maxOptionsText = 4096

// Options are one server's address, credentials and connect timeout in the
// form the client programs read. They never touch a file system: Attach
// hands them to a client in a descriptor it inherits, which the kernel
// frees when the client has exited, even if the calling process was killed.
type Options struct {
	cfg     *mysql.Config
	text    string
	timeout time.Duration
}

// NewOptions prepares the options of the server cfg describes.
// connectTimeout bounds how long a client may take to connect and log in
// (0 means DefaultConnectTimeout). It is enforced twice: Cmd.Start logs in
// once itself before it starts a client, which bounds every client, and
// the mysql/mariadb command-line client also gets it as --connect-timeout
// (mariadb-dump has no such option). Neither client offers a
// read or write timeout once connected: bound those with the context.
//
// cfg.TLS settings other than "true", "skip-verify" and "preferred" cannot be
// expressed in an option file and are an error, and so is a system without
// /dev/fd (Windows), where the clients cannot get their options.
func NewOptions(cfg *mysql.Config, connectTimeout time.Duration) (*Options, error) {
	if errPlatform != nil {
		return nil, fmt.Errorf("mysqlcli: %w", errPlatform)
	}
	if connectTimeout < 0 {
		return nil, fmt.Errorf("mysqlcli: negative connect timeout %s", connectTimeout)
	}
	if connectTimeout == 0 {
		connectTimeout = DefaultConnectTimeout
	}
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
	// Only the mysql/mariadb client reads the [mysql] group: mariadb-dump
	// would refuse an option it does not know in [client].
	b.WriteString("[mysql]\n")
	writeOption(&b, "connect-timeout", fmt.Sprint(int64(math.Ceil(connectTimeout.Seconds()))))
	if b.Len() > maxOptionsText {
		return nil, fmt.Errorf("mysqlcli: options of %s: %d bytes, more than the %d a pipe is sure to hold", conn.Endpoint(cfg), b.Len(), maxOptionsText)
	}
	return &Options{cfg: cfg.Clone(), text: b.String(), timeout: connectTimeout}, nil
}

// Command prepares program as Command does, with the options attached and
// the argument naming them first, followed by args.
func (o *Options) Command(ctx context.Context, program string, args ...string) (*Cmd, error) {
	cmd := Command(ctx, program)
	arg, err := o.Attach(cmd)
	if err != nil {
		return nil, err
	}
	cmd.Args = append(append(cmd.Args, arg), args...)
	return cmd, nil
}

// Attach hands the options to cmd in a descriptor it inherits, N, and
// returns the argument that makes a client read them and nothing else,
// --defaults-file=/dev/fd/N, which must be the client's first argument. A
// program whose arguments hold it in a script, such as a shell, passes the
// descriptor on to the clients it starts. On Linux the descriptor is an
// in-memory file that can be read any number of times; on other Unix
// systems a pipe that can be read once. Attach fails where there is no
// /dev/fd (Windows).
func (o *Options) Attach(cmd *Cmd) (string, error) {
	f, err := optionsFile(o.text)
	if err != nil {
		return "", fmt.Errorf("mysqlcli: options of %s: %w", conn.Endpoint(o.cfg), err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	cmd.files = append(cmd.files, f)
	cmd.attached = append(cmd.attached, o)
	return "--defaults-file=/dev/fd/" + strconv.Itoa(2+len(cmd.ExtraFiles)), nil
}

// probe logs in to the server once, within the connect timeout. It returns
// an error wrapping ErrConnectTimeout (and the *conn.Error naming the stage)
// if that takes longer, ctx's error if ctx ends first, and nil otherwise: a
// server that refuses the login is the client's to report, in its own
// words.
func (o *Options) probe(ctx context.Context) error {
	db, err := conn.Open(ctx, o.cfg, conn.Options{Timeouts: conn.Timeouts{Connect: o.timeout}, MaxConns: 1})
	switch {
	case err == nil:
		return db.Close()
	case ctx.Err() != nil:
		return fmt.Errorf("mysqlcli: connecting to %s: %w", conn.Endpoint(o.cfg), ctx.Err())
	case errors.Is(err, conn.ErrTimeout):
		return fmt.Errorf("%w: %w", ErrConnectTimeout, err)
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
