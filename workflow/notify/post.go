package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// endpoint is a webhook URL with its display name: scheme, host and path,
// with the query (DingTalk's access_token, WeCom's key) dropped and, where
// the service keeps its token in the path (Feishu, Slack), the token masked.
type endpoint struct {
	service string
	url     *url.URL
	name    string
}

func parseEndpoint(service, raw string, maskPathFrom int) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a token.
		return endpoint{}, fmt.Errorf("notify: %s: webhook URL %s does not parse", service, redactRaw(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return endpoint{}, fmt.Errorf("notify: %s: webhook URL %s is not an absolute http(s) URL", service, redactRaw(raw))
	}
	segs := strings.Split(u.EscapedPath(), "/")
	for i := range segs {
		if maskPathFrom > 0 && i >= maskPathFrom && segs[i] != "" {
			segs[i] = "***"
		}
	}
	name := u.Scheme + "://" + u.Host + strings.Join(segs, "/")
	return endpoint{service: service, url: u, name: name}, nil
}

// redactRaw shows what can safely be shown of a bad URL: its scheme and
// host, or its first path segment, never a query or a later path segment
// (where services keep their tokens).
func redactRaw(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	rest := raw
	prefix := ""
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	if i := strings.Index(strings.TrimPrefix(rest, "/"), "/"); i >= 0 {
		cut := i
		if strings.HasPrefix(rest, "/") {
			cut++
		}
		rest = rest[:cut] + "/…"
	}
	return fmt.Sprintf("%q", prefix+rest)
}

func (ep endpoint) errorf(permanent bool, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if permanent {
		return fmt.Errorf("notify: %s %s: %s: %w", ep.service, ep.name, msg, workflow.ErrPermanent)
	}
	return fmt.Errorf("notify: %s %s: %s", ep.service, ep.name, msg)
}

// response is what a service answered.
type response struct {
	status int
	body   []byte
}

// post sends body as JSON to u (the endpoint's URL, possibly with signing
// query parameters) and returns the answer. Transport errors are returned
// without the URL, which may hold a token; a cancelled context is wrapped
// so that errors.Is finds it.
func (ep endpoint) post(ctx context.Context, client *http.Client, u *url.URL, body []byte, header http.Header) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return response{}, ep.errorf(true, "building request: %v", unwrapURL(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "shiftgate-notify/1")
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return response{}, fmt.Errorf("notify: %s %s: %w", ep.service, ep.name, cerr)
		}
		return response{}, ep.errorf(false, "%v", unwrapURL(err))
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return response{}, fmt.Errorf("notify: %s %s: reading response: %w", ep.service, ep.name, cerr)
		}
		return response{}, ep.errorf(false, "reading response: %v", err)
	}
	return response{status: resp.StatusCode, body: rb}, nil
}

// httpStatusError reports a non-2xx answer: 4xx other than 408 and 429 is
// permanent, the rest may succeed later.
func (ep endpoint) httpStatusError(r response) error {
	permanent := r.status >= 400 && r.status < 500 && r.status != http.StatusRequestTimeout && r.status != http.StatusTooManyRequests
	return ep.errorf(permanent, "HTTP %d: %s", r.status, snippet(r.body))
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// marshal encodes v as JSON without HTML escaping, so that "<@U1>" and
// "&" reach the service as written.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
