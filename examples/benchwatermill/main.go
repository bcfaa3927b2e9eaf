// Command benchwatermill measures the drain of a transactional outbox to a
// secondary database, shiftgate's dualwrite against the peer a Go user
// would pick, watermill-sql's MySQL outbox with watermill's forwarder, on
// the same data in the same run on two throwaway MariaDB servers.
//
// Both sides first capture the same writes on the primary: transactions
// of -txn rows, each upserting rows of items and recording them in the
// outbox in the same transaction (dualwrite: Tx.Changed; watermill: a
// watermill-sql publisher on the transaction, wrapped by the forwarder's
// publisher, one JSON message with the row per row). Then each drains its
// outbox into the secondary's items and the time to the last row is
// measured: dualwrite with one relay through the Direct transport;
// watermill with its forwarder reading the messages table (a watermill-sql
// subscriber) and publishing to a publisher that upserts each message's
// row into the secondary. Both end with the secondary equal to the
// primary, which the program checks. It prints entries/s of both and the
// ratio.
//
// It is its own module so that watermill stays out of shiftgate's
// dependencies. Figures depend on the machine: rerun on an idle one before
// quoting them.
//
//	cd examples/benchwatermill && go run . [-entries 50000] [-txn 10]
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shiftgate/shiftgate/dualwrite"
	"github.com/shiftgate/shiftgate/internal/sandbox"
)

const ddl = "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)"

// topic is the watermill topic of the rows.
const topic = "items"

func main() {
	entries := flag.Int("entries", 50000, "rows captured, and drained, by each outbox")
	txn := flag.Int("txn", 10, "rows per capturing transaction")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *entries, *txn); err != nil {
		fmt.Fprintf(os.Stderr, "benchwatermill: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, entries, txn int) error {
	if entries < 1 || txn < 1 {
		return errors.New("-entries and -txn must be 1 or more")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger, BufferPool: "512M"})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	fmt.Fprintln(os.Stderr, "dualwrite: filling and draining")
	dw, err := drainDualwrite(ctx, servers, entries, txn)
	if err != nil {
		return fmt.Errorf("dualwrite: %w", err)
	}
	fmt.Fprintln(os.Stderr, "watermill: filling and draining")
	wm, err := drainWatermill(ctx, servers, entries, txn)
	if err != nil {
		return fmt.Errorf("watermill: %w", err)
	}
	fmt.Printf("drain of %d entries (%d-row transactions) to the secondary, entries/s\n", entries, txn)
	fmt.Printf("  shiftgate dualwrite (1 relay, Direct) %8.0f/s\n", dw)
	fmt.Printf("  watermill-sql outbox + forwarder      %8.0f/s\n", wm)
	fmt.Printf("  dualwrite/watermill                   %8.2f\n", dw/wm)
	return nil
}

// databases creates database name on both servers with items, and opens
// them.
func databases(ctx context.Context, servers []*sandbox.Server, name string) (primary, secondary *sql.DB, err error) {
	var dbs [2]*sql.DB
	for i, s := range servers[:2] {
		if dbs[i], err = s.CreateDatabase(ctx, name); err != nil {
			return nil, nil, err
		}
		if _, err := dbs[i].ExecContext(ctx, ddl); err != nil {
			return nil, nil, err
		}
	}
	return dbs[0], dbs[1], nil
}

// fill runs the capturing transactions: write writes and records rows
// first..first+n-1 in one transaction.
func fill(entries, txn int, write func(first, n int) error) error {
	for first := 1; first <= entries; first += txn {
		if err := write(first, min(txn, entries-first+1)); err != nil {
			return err
		}
	}
	return nil
}

const upsert = "INSERT INTO items VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), v = VALUES(v)"

// drainDualwrite fills the outbox with the relay paused and returns the
// entries/s one relay delivers.
func drainDualwrite(ctx context.Context, servers []*sandbox.Server, entries, txn int) (float64, error) {
	primary, secondary, err := databases(ctx, servers, "bench_dw")
	if err != nil {
		return 0, err
	}
	defer primary.Close()
	defer secondary.Close()
	o, err := dualwrite.Open(ctx, primary, "bench_dw", []dualwrite.Table{{Name: "items"}})
	if err != nil {
		return 0, err
	}
	if err := o.Pause(ctx); err != nil {
		return 0, err
	}
	err = fill(entries, txn, func(first, n int) error {
		return o.Run(ctx, func(tx *dualwrite.Tx) error {
			for id := first; id < first+n; id++ {
				if _, err := tx.ExecContext(ctx, upsert, id, "row "+strconv.Itoa(id), id); err != nil {
					return err
				}
				if err := tx.Changed("items", id); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	tr, err := dualwrite.NewDirectTo(o, secondary, "bench_dw", "bench_dw_cp", "bench")
	if err != nil {
		return 0, err
	}
	r, err := o.NewRelay(tr, dualwrite.WithPoll(5*time.Millisecond))
	if err != nil {
		return 0, err
	}
	if err := o.Resume(ctx); err != nil {
		return 0, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	if err := waitRows(ctx, secondary, entries); err != nil {
		return 0, err
	}
	rate := float64(entries) / time.Since(begin).Seconds()
	stop()
	<-done
	return rate, nil
}

// drainWatermill fills the watermill-sql messages table with the
// forwarder stopped and returns the entries/s the forwarder delivers.
func drainWatermill(ctx context.Context, servers []*sandbox.Server, entries, txn int) (float64, error) {
	primary, secondary, err := databases(ctx, servers, "bench_wm")
	if err != nil {
		return 0, err
	}
	defer primary.Close()
	defer secondary.Close()
	wlog := watermill.NopLogger{}
	schema := wsql.DefaultMySQLSchema{SubscribeBatchSize: 500}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromStdSQL(primary), wsql.SubscriberConfig{
		ConsumerGroup: "bench", SchemaAdapter: schema, OffsetsAdapter: wsql.DefaultMySQLOffsetsAdapter{},
		InitializeSchema: true, PollInterval: 5 * time.Millisecond,
	}, wlog)
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	fcfg := forwarder.Config{ForwarderTopic: "forwarder_topic"}
	if err := sub.SubscribeInitialize(fcfg.ForwarderTopic); err != nil {
		return 0, err
	}
	err = fill(entries, txn, func(first, n int) error {
		tx, err := primary.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: schema}, wlog)
		if err != nil {
			return err
		}
		out := forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: fcfg.ForwarderTopic})
		msgs := make([]*message.Message, 0, n)
		for id := first; id < first+n; id++ {
			name := "row " + strconv.Itoa(id)
			if _, err := tx.ExecContext(ctx, upsert, id, name, id); err != nil {
				return err
			}
			payload, err := json.Marshal(row{ID: id, Name: name, V: int64(id)})
			if err != nil {
				return err
			}
			msgs = append(msgs, message.NewMessage(watermill.NewUUID(), payload))
		}
		if err := out.Publish(topic, msgs...); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return 0, err
	}
	applier := &applyPublisher{db: secondary}
	fw, err := forwarder.NewForwarder(sub, applier, wlog, fcfg)
	if err != nil {
		return 0, err
	}
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	if err := waitRows(ctx, secondary, entries); err != nil {
		return 0, err
	}
	rate := float64(entries) / time.Since(begin).Seconds()
	if err := fw.Close(); err != nil {
		return 0, err
	}
	<-done
	if n := applier.n.Load(); n < int64(entries) {
		return 0, fmt.Errorf("%d messages applied, want %d", n, entries)
	}
	return rate, nil
}

// row is a watermill message's payload.
type row struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	V    int64  `json:"v"`
}

// applyPublisher is the forwarder's destination: it upserts each
// message's row into the secondary's items, a transaction per message.
type applyPublisher struct {
	db *sql.DB
	n  atomic.Int64
}

func (p *applyPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		var r row
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return err
		}
		if _, err := p.db.ExecContext(m.Context(), upsert, r.ID, r.Name, r.V); err != nil {
			return err
		}
		p.n.Add(1)
	}
	return nil
}

func (p *applyPublisher) Close() error { return nil }

// waitRows waits until the secondary's items holds n rows, each with its
// last value (v = id).
func waitRows(ctx context.Context, db *sql.DB, n int) error {
	for {
		var have int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE v = id").Scan(&have); err != nil {
			return err
		}
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
