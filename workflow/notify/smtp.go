package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
)

// TLSMode is how an SMTP notifier protects its connection.
type TLSMode int

// The TLS modes.
const (
	// StartTLSRequired upgrades the connection with STARTTLS and fails,
	// permanently, if the server does not offer it. The default.
	StartTLSRequired TLSMode = iota
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and
	// goes on in clear text otherwise (authentication is then refused
	// unless the server is on loopback).
	StartTLSOpportunistic
	// NoTLS never upgrades: for a relay on localhost.
	NoTLS
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465).
	ImplicitTLS
)

// AuthMechanism is an SMTP AUTH mechanism.
type AuthMechanism int

// The supported mechanisms.
const (
	AuthPlain AuthMechanism = iota + 1
	AuthLogin
)

// smtpOption is an option only an SMTP notifier takes.
type smtpOption func(*smtpConfig) error

func (o smtpOption) smtp(c *smtpConfig) error { return o(c) }

type smtpConfig struct {
	tlsMode   TLSMode
	tlsConfig *tls.Config
	mech      AuthMechanism
	username  string
	password  string
	addresses func(user string) (string, bool)
	now       func() time.Time
	hello     string
}

// WithTLS sets the TLS mode; the default is StartTLSRequired.
func WithTLS(mode TLSMode) SMTPOption {
	return smtpOption(func(c *smtpConfig) error {
		if mode < StartTLSRequired || mode > ImplicitTLS {
			return fmt.Errorf("WithTLS: unknown mode %d", mode)
		}
		c.tlsMode = mode
		return nil
	})
}

// WithTLSConfig sets the TLS client configuration, such as RootCAs for a
// server with a private certificate authority. ServerName defaults to the
// server's host.
func WithTLSConfig(cfg *tls.Config) SMTPOption {
	return smtpOption(func(c *smtpConfig) error {
		if cfg == nil {
			return errors.New("WithTLSConfig: nil config")
		}
		c.tlsConfig = cfg.Clone()
		return nil
	})
}

// WithAuth authenticates with mech, username and password. The password is
// never sent over an unencrypted connection to a host other than loopback,
// and never appears in an error.
func WithAuth(mech AuthMechanism, username, password string) SMTPOption {
	return smtpOption(func(c *smtpConfig) error {
		if mech != AuthPlain && mech != AuthLogin {
			return fmt.Errorf("WithAuth: unknown mechanism %d", mech)
		}
		if username == "" || password == "" {
			return errors.New("WithAuth: empty username or password")
		}
		c.mech, c.username, c.password = mech, username, password
		return nil
	})
}

// WithAddresses maps a workflow user name to an email address; ok is false
// for users without one, who are then left out. By default a recipient
// that is itself an address is used as it is and any other is left out.
func WithAddresses(resolve func(user string) (address string, ok bool)) SMTPOption {
	return smtpOption(func(c *smtpConfig) error {
		if resolve == nil {
			return errors.New("WithAddresses: nil resolver")
		}
		c.addresses = resolve
		return nil
	})
}

// WithHelloName sets the name sent in EHLO; the default is "localhost".
func WithHelloName(name string) SMTPOption {
	return smtpOption(func(c *smtpConfig) error {
		if name == "" || strings.ContainsAny(name, " \r\n") {
			return fmt.Errorf("WithHelloName: invalid name %q", name)
		}
		c.hello = name
		return nil
	})
}

// SMTP sends each event as an email to its recipients' addresses: a
// multipart/alternative message with a plain-text and an HTML part, both
// listing ticket, title, state, actor, submitter, target, comment, detail
// and link, and a UTF-8 subject encoded as RFC 2047 words.
//
// Replies 5xx (a rejected sender or recipient, failed authentication) and a
// server without STARTTLS under StartTLSRequired are permanent errors;
// 4xx replies and network failures are not. When some recipients are
// rejected the message still goes to the others and the error, permanent
// so that a retry does not send it twice, names the rejected ones.
type SMTP struct {
	addr string
	host string
	from *mail.Address
	cfg  smtpConfig
}

var _ workflow.Notifier = (*SMTP)(nil)

// NewSMTP returns an SMTP notifier sending through the server at addr
// ("host:port") from the address from ("Shiftgate <dba@example.com>").
func NewSMTP(addr, from string, opts ...SMTPOption) (*SMTP, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("notify: smtp: server address %q is not host:port", addr)
	}
	f, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp %s: From address %q: %w", addr, from, err)
	}
	s := &SMTP{addr: addr, host: host, from: f, cfg: smtpConfig{now: time.Now, hello: "localhost", addresses: asAddress}}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("notify: smtp %s: nil option", addr)
		}
		if err := o.smtp(&s.cfg); err != nil {
			return nil, fmt.Errorf("notify: smtp %s: %w", addr, err)
		}
	}
	if s.cfg.mech != 0 && s.cfg.tlsMode == NoTLS && !isLoopback(host) {
		return nil, fmt.Errorf("notify: smtp %s: WithAuth with NoTLS would send the password in clear text to a host that is not loopback", addr)
	}
	return s, nil
}

func asAddress(user string) (string, bool) {
	a, err := mail.ParseAddress(user)
	if err != nil {
		return "", false
	}
	return a.Address, true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *SMTP) errorf(permanent bool, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if permanent {
		return fmt.Errorf("notify: smtp %s: %s: %w", s.addr, msg, workflow.ErrPermanent)
	}
	return fmt.Errorf("notify: smtp %s: %s", s.addr, msg)
}

// fail turns an error of step into the notifier's error: the context's
// error when it ended, permanent for 5xx replies and certificate problems.
func (s *SMTP) fail(ctx context.Context, step string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("notify: smtp %s: %s: %w (%v)", s.addr, step, cerr, err)
	}
	var te *textproto.Error
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	switch {
	case errors.As(err, &te):
		return s.errorf(te.Code >= 500, "%s: %d %s", step, te.Code, te.Msg)
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne):
		return s.errorf(true, "%s: %v", step, err)
	}
	return s.errorf(false, "%s: %v", step, err)
}

// Notify sends e.
func (s *SMTP) Notify(ctx context.Context, e workflow.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("notify: smtp %s: %w", s.addr, err)
	}
	to := s.recipients(e.Recipients)
	if len(to) == 0 {
		return s.errorf(true, "no email address for recipients %q", e.Recipients)
	}
	msg, err := s.message(e, to)
	if err != nil {
		return s.errorf(true, "building message: %v", err)
	}

	conn, err := s.dial(ctx)
	if err != nil {
		return s.fail(ctx, "connect", err)
	}
	defer conn.Close()
	// Ending ctx unblocks any read or write at once; fail then reports
	// ctx's error, which is set by the time AfterFunc runs.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return s.fail(ctx, "greeting", err)
	}
	defer c.Close()
	if err := s.handshake(ctx, c); err != nil {
		return err
	}
	return s.send(ctx, c, to, msg)
}

// recipients is the email addresses of users, each once, in the order of
// users; users without a (parseable) address are left out.
func (s *SMTP) recipients(users []string) []string {
	var to []string
	seen := map[string]bool{}
	for _, u := range users {
		a, ok := s.cfg.addresses(u)
		if ok {
			if pa, err := mail.ParseAddress(a); err == nil {
				if !seen[pa.Address] {
					seen[pa.Address] = true
					to = append(to, pa.Address)
				}
			}
		}
	}
	return to
}

// handshake greets the server on c, upgrades to TLS as the TLS mode asks
// and authenticates when a mechanism is set. A server that lacks a
// required extension (STARTTLS when required, AUTH) is a permanent error.
func (s *SMTP) handshake(ctx context.Context, c *smtp.Client) error {
	if err := c.Hello(s.cfg.hello); err != nil {
		return s.fail(ctx, "EHLO", err)
	}
	if s.cfg.tlsMode == StartTLSRequired || s.cfg.tlsMode == StartTLSOpportunistic {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return s.fail(ctx, "STARTTLS", err)
			}
		} else if s.cfg.tlsMode == StartTLSRequired {
			return s.errorf(true, "server does not offer STARTTLS, which is required")
		}
	}
	if s.cfg.mech != 0 {
		if ok, _ := c.Extension("AUTH"); !ok {
			return s.errorf(true, "server does not offer AUTH")
		}
		var a smtp.Auth
		if s.cfg.mech == AuthPlain {
			a = smtp.PlainAuth("", s.cfg.username, s.cfg.password, s.host)
		} else {
			a = &loginAuth{username: s.cfg.username, password: s.cfg.password, host: s.host}
		}
		if err := c.Auth(a); err != nil {
			return s.fail(ctx, "AUTH", err)
		}
	}
	return nil
}

// send sends msg to the addresses to on c, past the handshake, and quits.
// Recipients the server rejects permanently are skipped; when every one
// is rejected nothing is sent, and when some are, the message goes to
// the others and a permanent error names the rejected ones.
func (s *SMTP) send(ctx context.Context, c *smtp.Client, to []string, msg []byte) error {
	if err := c.Mail(s.from.Address); err != nil {
		return s.fail(ctx, "MAIL FROM <"+s.from.Address+">", err)
	}
	var accepted []string
	var rejected []string
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) && te.Code >= 500 && ctx.Err() == nil {
				rejected = append(rejected, fmt.Sprintf("<%s>: %d %s", a, te.Code, te.Msg))
				continue
			}
			return s.fail(ctx, "RCPT TO <"+a+">", err)
		}
		accepted = append(accepted, a)
	}
	if len(accepted) == 0 {
		return s.errorf(true, "every recipient was rejected: %s", strings.Join(rejected, "; "))
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(ctx, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.fail(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return s.fail(ctx, "end of DATA", err)
	}
	_ = c.Quit()
	if len(rejected) > 0 {
		return s.errorf(true, "sent to %d recipients, rejected %s", len(accepted), strings.Join(rejected, "; "))
	}
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.tlsConfig != nil {
		cfg = s.cfg.tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if s.cfg.tlsMode == ImplicitTLS {
		return (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// loginAuth is the LOGIN mechanism, which net/smtp lacks; like
// smtp.PlainAuth it refuses to send the password unencrypted except to
// loopback.
type loginAuth struct {
	username, password, host string
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopback(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:", "user name", "username":
		return []byte(a.username), nil
	case "password:", "password":
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", fromServer)
}

// message renders e as an RFC 5322 message with CRLF line ends.
func (s *SMTP) message(e workflow.Event, to []string) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(io.Discard)
	boundary := mw.Boundary()
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	h := []struct{ k, v string }{
		{"From", s.from.String()},
		{"To", strings.Join(to, ", ")},
		{"Subject", mime.BEncoding.Encode("utf-8", subject(e))},
		{"Date", s.cfg.now().Format(time.RFC1123Z)},
		{"Message-ID", "<shiftgate." + strconv.FormatInt(e.TicketID, 10) + "." + string(e.Kind) + "." + hex.EncodeToString(rnd[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + boundary + `"`},
		{"Auto-Submitted", "auto-generated"},
		{"X-Shiftgate-Ticket", strconv.FormatInt(e.TicketID, 10)},
		{"X-Shiftgate-Event", string(e.Kind)},
	}
	for _, f := range h {
		b.WriteString(f.k + ": " + f.v + "\r\n")
	}
	b.WriteString("\r\n")
	mw = multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := mailHTML.Execute(&html, struct {
		Subject string
		Fields  []field
		URL     string
		ID      int64
	}{subject(e), fields(e), e.URL, e.TicketID}); err != nil {
		return nil, err
	}
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", plainText(e) + "\n"},
		{"text/html; charset=utf-8", html.String()},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := io.WriteString(qp, strings.ReplaceAll(part.body, "\n", "\r\n")); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body>
<h3>{{.Subject}}</h3>
<table>
{{- range .Fields}}
<tr><th align="left">{{.Label}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .URL}}
<p><a href="{{.URL}}">Open ticket #{{.ID}}</a></p>
{{- end}}
</body></html>
`))
