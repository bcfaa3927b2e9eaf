package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/notify"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

const (
	smtpUser     = "shiftgate@example.com"
	smtpPassword = "s3cret-SMTP-pass"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shiftgate test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// mailbox is an in-process SMTP server (emersion/go-smtp) that requires
// STARTTLS before AUTH (PLAIN, or LOGIN) and records what it receives.
type mailbox struct {
	t    testing.TB
	srv  *gosmtp.Server
	addr string
	pool *x509.CertPool

	mu       sync.Mutex
	mode     workflowtest.Mode
	release  chan struct{}
	messages []workflowtest.Message
	tlsSeen  []bool
	authed   []string
	// helos are the names clients sent in HELO or EHLO.
	helos []string
}

func newMailbox(t testing.TB, startTLS bool) *mailbox {
	t.Helper()
	m := &mailbox{t: t, release: make(chan struct{})}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		m.mu.Lock()
		m.helos = append(m.helos, c.Hostname())
		m.mu.Unlock()
		return &session{m: m, c: c}, nil
	}))
	s.Domain = "mx.test"
	s.ErrorLog = log.New(io.Discard, "", 0) // clients that time out on purpose reset their connections
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	if startTLS {
		cert, pool := selfSigned(t)
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		m.pool = pool
	} else {
		s.AllowInsecureAuth = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.srv, m.addr = s, l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() {
		m.SetMode(workflowtest.Accept)
		_ = s.Close()
	})
	return m
}

func (m *mailbox) Endpoint() string  { return m.addr }
func (m *mailbox) Secrets() []string { return []string{smtpPassword} }

func (m *mailbox) Messages() []workflowtest.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]workflowtest.Message(nil), m.messages...)
}

func (m *mailbox) SetMode(mode workflowtest.Mode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mode == workflowtest.Stall && mode != workflowtest.Stall {
		close(m.release)
		m.release = make(chan struct{})
	}
	m.mode = mode
}

type session struct {
	m    *mailbox
	c    *gosmtp.Conn
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if username != smtpUser || password != smtpPassword {
			return gosmtp.ErrAuthFailed
		}
		s.m.mu.Lock()
		s.m.authed = append(s.m.authed, mech)
		s.m.mu.Unlock()
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(identity, username, password string) error { return check(username, password) }), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	s.m.mu.Lock()
	mode, release := s.m.mode, s.m.release
	s.m.mu.Unlock()
	switch mode {
	case workflowtest.Stall:
		<-release
	case workflowtest.FailTemporarily:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.m.mu.Lock()
	mode := s.m.mode
	s.m.mu.Unlock()
	if mode == workflowtest.RejectPermanently || strings.HasPrefix(to, "nobody@") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	text, err := readMail(raw)
	if err != nil {
		s.m.t.Errorf("unreadable mail: %v\n%s", err, raw)
	}
	_, isTLS := s.c.TLSConnectionState()
	s.m.mu.Lock()
	s.m.messages = append(s.m.messages, workflowtest.Message{To: append([]string(nil), s.to...), Text: text, Raw: raw})
	s.m.tlsSeen = append(s.m.tlsSeen, isTLS)
	s.m.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check    func(user, pass string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

// readMail returns the decoded subject and text/plain part of a message.
func readMail(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return "", err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var plain string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(p) // multipart decodes quoted-printable itself
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			plain = string(b)
		}
	}
	return subject + "\n" + plain, nil
}

var addressBook = map[string]string{
	"alice": "alice@example.com",
	"bob":   "Bob Li <bob@example.com>",
	"carol": "carol@example.com",
}

func lookup(user string) (string, bool) { a, ok := addressBook[user]; return a, ok }

func TestSMTPConformance(t *testing.T) {
	for _, mech := range []struct {
		name string
		mech notify.AuthMechanism
	}{{"PLAIN", notify.AuthPlain}, {"LOGIN", notify.AuthLogin}} {
		t.Run(mech.name, func(t *testing.T) {
			workflowtest.TestNotifier(t, func(t *testing.T) (workflow.Notifier, workflowtest.Inbox) {
				mb := newMailbox(t, true)
				n, err := notify.NewSMTP(mb.addr, "Shiftgate 工单 <shiftgate@example.com>",
					notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}),
					notify.WithAuth(mech.mech, smtpUser, smtpPassword),
					notify.WithAddresses(lookup))
				if err != nil {
					t.Fatal(err)
				}
				return n, mb
			})
		})
	}
}

func TestSMTPMessage(t *testing.T) {
	mb := newMailbox(t, true)
	now := time.Date(2026, 5, 4, 18, 20, 30, 0, time.FixedZone("CST", 8*3600))
	n, err := notify.NewSMTP(mb.addr, "Shiftgate 工单 <shiftgate@example.com>",
		notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}),
		notify.WithAuth(notify.AuthPlain, smtpUser, smtpPassword),
		notify.WithAddresses(lookup), notify.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	e := workflowtest.SampleEvent(workflow.EventApproved, 42, "邮件")
	e.Recipients = append(e.Recipients, "dave") // no address: left out
	if err := n.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	msgs := mb.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	mb.mu.Lock()
	tlsSeen, authed := mb.tlsSeen[0], mb.authed
	mb.mu.Unlock()
	if !tlsSeen || len(authed) != 1 || authed[0] != sasl.Plain {
		t.Errorf("TLS %v, auth %v: want STARTTLS and AUTH PLAIN", tlsSeen, authed)
	}
	if got := strings.Join(msgs[0].To, ","); got != "alice@example.com,bob@example.com,carol@example.com" {
		t.Errorf("RCPT TO %s", got)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	from, _ := dec.DecodeHeader(h.Get("From"))
	for k, want := range map[string]string{
		"Subject":            "[shiftgate] ticket #42 approved: 迁移 shop 到 test-2 邮件",
		"From":               "Shiftgate 工单 <shiftgate@example.com>",
		"To":                 "alice@example.com, bob@example.com, carol@example.com",
		"Date":               "Mon, 04 May 2026 18:20:30 +0800",
		"MIME-Version":       "1.0",
		"Auto-Submitted":     "auto-generated",
		"X-Shiftgate-Ticket": "42",
		"X-Shiftgate-Event":  "approved",
	} {
		got := h.Get(k)
		switch k {
		case "Subject":
			got = subject
		case "From":
			got = from
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?b?") {
		t.Errorf("Subject is not RFC 2047 encoded: %q", raw)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<shiftgate.42.approved.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts[p.Header.Get("Content-Type")] = string(b)
	}
	plain, html := parts["text/plain; charset=utf-8"], parts["text/html; charset=utf-8"]
	for _, want := range []string{"Ticket: #42 data_migration", "Title: 迁移 shop 到 test-2 邮件", "State: approved", "Actor: bob",
		"Submitter: alice", "Target: prod-1 / shop", "Comment: 看起来没问题 & <ok>", "Detail: 3 tables, about 120000 rows",
		"Link: https://dba.example.com/tickets/42"} {
		if !strings.Contains(plain, want) {
			t.Errorf("text part lacks %q:\n%s", want, plain)
		}
	}
	for _, want := range []string{"<th align=\"left\">Title</th><td>迁移 shop 到 test-2 邮件</td>", "看起来没问题 &amp; &lt;ok&gt;",
		`<a href="https://dba.example.com/tickets/42">Open ticket #42</a>`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
	// Every line of the raw message ends in CRLF and stays short.
	for i, line := range strings.Split(string(msgs[0].Raw), "\r\n") {
		if strings.Contains(line, "\n") || len(line) > 998 {
			t.Fatalf("line %d is malformed: %q", i, line)
		}
	}
}

func TestSMTPPartialRejection(t *testing.T) {
	mb := newMailbox(t, true)
	n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com", notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}))
	if err != nil {
		t.Fatal(err)
	}
	e := workflowtest.SampleEvent(workflow.EventFailed, 7, "partial")
	e.Recipients = []string{"alice@example.com", "nobody@example.com"}
	err = n.Notify(context.Background(), e)
	if !errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "<nobody@example.com>: 550") {
		t.Fatalf("got %v", err)
	}
	if msgs := mb.Messages(); len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "alice@example.com" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestSMTPRequiresStartTLS(t *testing.T) {
	mb := newMailbox(t, false) // offers no STARTTLS
	n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), addressed())
	if !errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("StartTLSRequired against a server without it: %v", err)
	}
	n, err = notify.NewSMTP(mb.addr, "shiftgate@example.com", notify.WithTLS(notify.StartTLSOpportunistic))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), addressed()); err != nil {
		t.Fatalf("opportunistic: %v", err)
	}
}

func TestSMTPUntrustedCertificateIsPermanent(t *testing.T) {
	mb := newMailbox(t, true)
	n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com", notify.WithAuth(notify.AuthPlain, smtpUser, smtpPassword))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), addressed())
	if !errors.Is(err, workflow.ErrPermanent) || strings.Contains(err.Error(), smtpPassword) {
		t.Fatalf("got %v", err)
	}
}

func TestSMTPWrongPasswordIsPermanent(t *testing.T) {
	mb := newMailbox(t, true)
	n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com", notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}),
		notify.WithAuth(notify.AuthLogin, smtpUser, "wrong-password"))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), addressed())
	if !errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "AUTH: 535") || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("got %v", err)
	}
}

func TestSMTPConstruction(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errOf(notify.NewSMTP("mail.example.com", "a@example.com")), `server address "mail.example.com" is not host:port`},
		{errOf(notify.NewSMTP("mail.example.com:587", "not an address")), `From address "not an address"`},
		{errOf(notify.NewSMTP("mail.example.com:25", "a@example.com", notify.WithTLS(notify.NoTLS), notify.WithAuth(notify.AuthPlain, "u", smtpPassword))), "password in clear text"},
		{errOf(notify.NewSMTP("mail.example.com:587", "a@example.com", notify.WithAuth(notify.AuthPlain, "u", ""))), "empty username or password"},
		{errOf(notify.NewSMTP("mail.example.com:587", "a@example.com", nil)), "nil option"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) || strings.Contains(tc.err.Error(), smtpPassword) {
			t.Errorf("got %v, want it to contain %q", tc.err, tc.want)
		}
	}
}

// TestSMTPHelloName checks the name SMTP greets the server with: its own
// with WithHelloName, "localhost" without; a name that would break the
// command is refused.
func TestSMTPHelloName(t *testing.T) {
	for _, tc := range []struct {
		opts []notify.SMTPOption
		want string
	}{
		{nil, "localhost"},
		{[]notify.SMTPOption{notify.WithHelloName("shiftgate.example.com")}, "shiftgate.example.com"},
	} {
		mb := newMailbox(t, true)
		opts := append([]notify.SMTPOption{notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}),
			notify.WithAuth(notify.AuthPlain, smtpUser, smtpPassword)}, tc.opts...)
		n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(context.Background(), addressed()); err != nil {
			t.Fatal(err)
		}
		mb.mu.Lock()
		helos := mb.helos
		mb.mu.Unlock()
		if len(helos) == 0 {
			t.Fatal("the server saw no HELO or EHLO")
		}
		for _, h := range helos {
			if h != tc.want {
				t.Errorf("EHLO %q, want %q (all: %q)", h, tc.want, helos)
			}
		}
	}
	for _, bad := range []string{"", "two words", "evil\r\nRCPT TO:<x@example.com>"} {
		if _, err := notify.NewSMTP("mail.example.com:587", "a@example.com", notify.WithHelloName(bad)); err == nil || !strings.Contains(err.Error(), "WithHelloName") {
			t.Errorf("WithHelloName(%q): %v", bad, err)
		}
	}
}

// addressed is an event whose recipients are email addresses, which SMTP
// uses as they are without WithAddresses.
func addressed() workflow.Event {
	e := workflowtest.SampleEvent(workflow.EventStarted, 1, "x")
	e.Recipients = []string{"alice@example.com"}
	return e
}

// TestSMTPUserTextEscaped: the mail's subject and text body show control
// characters from user and server text as escapes.
func TestSMTPUserTextEscaped(t *testing.T) {
	mb := newMailbox(t, true)
	n, err := notify.NewSMTP(mb.addr, "shiftgate@example.com", notify.WithTLSConfig(&tls.Config{RootCAs: mb.pool}),
		notify.WithAuth(notify.AuthPlain, smtpUser, smtpPassword), notify.WithAddresses(lookup))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	msgs := mb.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	text := strings.ReplaceAll(msgs[0].Text, "\r\n", "\n")
	requireEscaped(t, "mail", text)
	if !strings.Contains(text, `\x1b[2J`) || !strings.HasPrefix(text, "[shiftgate] ticket #77 FAILED: fix orders\\x1b[2J") {
		t.Errorf("subject: %q", text)
	}
}
