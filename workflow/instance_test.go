package workflow_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/workflow"
)

// TestSecretsHidden prints, logs and encodes DSNs and credentials every
// way a host is likely to, alone and inside Endpoints, and finds the
// password in none of it.
func TestSecretsHidden(t *testing.T) {
	const secret = `s3cr;et#"pw`
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "ops", secret, "tcp", "db.example.com:3306"
	dsn := workflow.DSN(cfg.FormatDSN())
	bad := workflow.DSN("ops:" + secret + "@nonsense(")
	ep := workflow.Endpoints{Target: dsn, Source: dsn}
	cred := workflow.Credentials{User: "ops", Password: secret}

	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T%v"} {
		for _, v := range []any{dsn, bad, ep, &ep, cred, &cred, []workflow.DSN{dsn}, map[string]workflow.DSN{"target": dsn}} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	out = append(out, fmt.Errorf("connecting to %v: %w", dsn, errors.New("refused")).Error(), fmt.Sprint(dsn, cred))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("connect", "dsn", dsn, "bad", bad, "credentials", cred, "endpoints", ep,
			slog.Group("instance", "dsn", dsn), slog.Any("pointer", &ep))
		out = append(out, b.String())
	}
	for _, v := range []any{ep, cred, map[string]any{"credentials": cred}} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))
	}

	for _, s := range out {
		if strings.Contains(s, secret) || strings.Contains(s, hex.EncodeToString([]byte(secret))) || strings.Contains(s, "s3cr") {
			t.Errorf("the password shows in %s", s)
		}
	}
	for _, verb := range []string{"%v", "%s", "%#v"} {
		if got := fmt.Sprintf(verb, dsn); got != "ops@db.example.com:3306" {
			t.Errorf("%s of a DSN: %s, want ops@db.example.com:3306", verb, got)
		}
	}
	if got := fmt.Sprint(bad); got != "<unparseable DSN>" {
		t.Errorf("an unparseable DSN prints as %s", got)
	}
	if got := dsn.LogValue(); got.Kind() != slog.KindString || got.String() != "ops@db.example.com:3306" {
		t.Errorf("LogValue %v", got)
	}
}

// TestEngineRegistry checks that Registry returns the instances the engine
// works with: one added through it is a target from then on.
func TestEngineRegistry(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, workflow.NewMemoryStore(), nil)
	reg := e.Registry()
	if reg == nil {
		t.Fatal("Registry returned nil")
	}
	names := func() (out []string) {
		for _, in := range reg.List() {
			out = append(out, in.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"prod", "test"}) {
		t.Fatalf("registry lists %q, want the instances given to the engine", got)
	}
	db, _ := shopDB(t, servers[1], 20)
	req := workflow.Request{Kind: workflow.KindSQLChange, Title: "via stage", Submitter: "alice",
		Instance: "stage", Database: db, SQL: "UPDATE notes SET body = 'x' WHERE id = 1;"}
	if _, err := e.Submit(ctx, req); !errors.Is(err, workflow.ErrUnknownInstance) {
		t.Fatalf("Submit to an instance not registered yet: %v", err)
	}
	test, err := reg.Get("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(workflow.Instance{Name: "stage", Address: test.Address, Credentials: test.Credentials,
		Tags: map[string]string{"env": "stage"}}); err != nil {
		t.Fatal(err)
	}
	tk, err := e.Submit(ctx, req)
	if err != nil {
		t.Fatalf("Submit after adding the instance: %v", err)
	}
	if ran, err := e.RunOnce(ctx); !ran || err != nil {
		t.Fatalf("RunOnce: %v, %v", ran, err)
	}
	d := mustGet(t, e, tk.ID)
	if d.Ticket.State != workflow.StateSucceeded || d.Ticket.Report == nil || d.Ticket.Report.Target != test.Address {
		t.Fatalf("ticket on the added instance: %s, error %q, report %+v", d.Ticket.State, d.Ticket.Error, d.Ticket.Report)
	}
}
