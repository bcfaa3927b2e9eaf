package workflowtest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Mode is how an Inbox's endpoint answers deliveries.
type Mode int

// The modes an Inbox can be switched to.
const (
	// Accept takes every delivery.
	Accept Mode = iota
	// FailTemporarily refuses deliveries the way the service refuses one
	// that may succeed later (HTTP 503, a rate-limit code, SMTP 451).
	FailTemporarily
	// RejectPermanently refuses deliveries the way the service refuses one
	// that cannot succeed on retry (HTTP 400, a configuration error code,
	// SMTP 550).
	RejectPermanently
	// Stall holds every delivery without answering until the mode changes
	// or the test ends, so that the suite can check deadlines are honoured.
	Stall
)

// Message is one delivery as it arrived at an Inbox.
type Message struct {
	// To lists the recipients the endpoint was given (SMTP RCPT TO); chat
	// services leave it empty.
	To []string
	// Text is what a person reads: the decoded body, with every human-
	// readable field of the payload. The suite looks for the event's title
	// and ticket number in it.
	Text string
	// Raw is the payload exactly as it arrived.
	Raw []byte
}

// Inbox is the receiving end of a Notifier under test: a real endpoint that
// speaks the Notifier's protocol (an httptest server, an in-process SMTP
// server) and records what it receives.
type Inbox interface {
	// Endpoint is how the Notifier's errors must name the endpoint, such
	// as "127.0.0.1:40123".
	Endpoint() string
	// Messages returns the deliveries accepted so far, oldest first.
	Messages() []Message
	// SetMode changes how the endpoint answers the deliveries that follow.
	SetMode(Mode)
}

// SecretHolder is an optional interface of an Inbox: the secrets (tokens,
// signing keys, passwords) the Notifier was configured with. The suite
// checks that no error it returns contains one of them.
type SecretHolder interface {
	Secrets() []string
}

// HTTPResponse is one canned answer of an HTTPInbox.
type HTTPResponse struct {
	Status int
	Body   string
	// Header is added to the response, such as Content-Type.
	Header http.Header
}

// HTTPInboxConfig tells an HTTPInbox how its service answers.
type HTTPInboxConfig struct {
	// OK answers accepted deliveries; default 200 with an empty JSON
	// object.
	OK HTTPResponse
	// Temporary answers in FailTemporarily mode; default 503.
	Temporary HTTPResponse
	// Permanent answers in RejectPermanently mode; default 400.
	Permanent HTTPResponse
	// Text turns a request body into what a person reads. The default
	// collects every JSON string value of the body, one per line.
	Text func(body []byte) (string, error)
	// Secrets are reported by Secrets, for the suite's check that errors
	// never contain them.
	Secrets []string
}

// Request is one HTTP request an HTTPInbox received, whatever its answer.
type Request struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// HTTPInbox is an Inbox for webhook-style notifiers: an httptest server
// that records each request and answers as the configured service would.
type HTTPInbox struct {
	srv *httptest.Server
	cfg HTTPInboxConfig
	t   testing.TB

	mu       sync.Mutex
	mode     Mode
	release  chan struct{}
	requests []Request
	messages []Message
}

// NewHTTPInbox starts an HTTPInbox that is closed when the test ends.
func NewHTTPInbox(t testing.TB, cfg HTTPInboxConfig) *HTTPInbox {
	t.Helper()
	if cfg.OK.Status == 0 {
		cfg.OK = HTTPResponse{Status: http.StatusOK, Body: "{}"}
	}
	if cfg.Temporary.Status == 0 {
		cfg.Temporary = HTTPResponse{Status: http.StatusServiceUnavailable, Body: "try again later"}
	}
	if cfg.Permanent.Status == 0 {
		cfg.Permanent = HTTPResponse{Status: http.StatusBadRequest, Body: "bad request"}
	}
	if cfg.Text == nil {
		cfg.Text = JSONText
	}
	in := &HTTPInbox{cfg: cfg, t: t, release: make(chan struct{})}
	in.srv = httptest.NewServer(http.HandlerFunc(in.serve))
	t.Cleanup(func() {
		in.SetMode(Accept) // free stalled handlers
		in.srv.Close()
	})
	return in
}

// URL is the server's base URL, such as "http://127.0.0.1:40123".
func (in *HTTPInbox) URL() string { return in.srv.URL }

// Endpoint is the server's host:port.
func (in *HTTPInbox) Endpoint() string { return strings.TrimPrefix(in.srv.URL, "http://") }

// Secrets returns the configured secrets.
func (in *HTTPInbox) Secrets() []string { return in.cfg.Secrets }

// SetMode changes how the server answers.
func (in *HTTPInbox) SetMode(m Mode) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.mode == Stall && m != Stall {
		close(in.release)
		in.release = make(chan struct{})
	}
	in.mode = m
}

// Messages returns the accepted deliveries.
func (in *HTTPInbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Message(nil), in.messages...)
}

// Requests returns every request received, accepted or not.
func (in *HTTPInbox) Requests() []Request {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Request(nil), in.requests...)
}

func (in *HTTPInbox) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	in.requests = append(in.requests, Request{Method: r.Method, URL: r.URL, Header: r.Header.Clone(), Body: body})
	mode, release := in.mode, in.release
	in.mu.Unlock()

	var resp HTTPResponse
	switch mode {
	case Stall:
		select {
		case <-r.Context().Done():
			return
		case <-release:
		}
		resp = in.cfg.OK
		in.record(body)
	case FailTemporarily:
		resp = in.cfg.Temporary
	case RejectPermanently:
		resp = in.cfg.Permanent
	default:
		resp = in.cfg.OK
		in.record(body)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}

func (in *HTTPInbox) record(body []byte) {
	text, err := in.cfg.Text(body)
	if err != nil {
		in.t.Errorf("workflowtest: inbox %s: cannot read delivery: %v\n%s", in.Endpoint(), err, body)
	}
	in.mu.Lock()
	in.messages = append(in.messages, Message{Text: text, Raw: body})
	in.mu.Unlock()
}

// JSONText is the default HTTPInboxConfig.Text: every string value and every
// number of a JSON document, one per line (object keys in sorted order). A
// JSON string that itself holds a JSON object is opened too.
func JSONText(body []byte) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var b strings.Builder
	collect(&b, v)
	return b.String(), nil
}

func collect(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		var inner any
		if s := strings.TrimSpace(v); strings.HasPrefix(s, "{") && json.Unmarshal([]byte(s), &inner) == nil {
			collect(b, inner)
			return
		}
		b.WriteString(v)
		b.WriteByte('\n')
	case json.Number:
		b.WriteString(v.String())
		b.WriteByte('\n')
	case []any:
		for _, x := range v {
			collect(b, x)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			collect(b, v[k])
		}
	}
}
