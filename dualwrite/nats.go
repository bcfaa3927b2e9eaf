package dualwrite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// natsName is what a dual write's name may hold to be a NATS subject token
// and stream name.
var natsName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NATSStream is the JetStream stream of the dual write called name; its
// subjects are dualwrite.<name>.<bucket>.
func NATSStream(name string) string { return "DUALWRITE_" + name }

func natsSubject(name string, bucket int) string {
	return "dualwrite." + name + "." + strconv.Itoa(bucket)
}

// natsMessage is the payload of one message: a bucket's batch.
type natsMessage struct {
	Bucket  int     `json:"bucket"`
	Entries []Entry `json:"entries"`
}

// NATS is the transport through NATS JetStream, the seeds' design: the
// relay publishes each bucket's batch as one message and marks it
// delivered once the broker acknowledged it stored; a Consumer applies the
// messages to the secondary.
type NATS struct {
	js   jetstream.JetStream
	name string
}

var _ Transport = (*NATS)(nil)

// NewNATS returns the transport of the dual write called name (letters,
// digits, '_' and '-') through js, after creating or updating its stream
// (file storage, a 2-minute deduplication window).
func NewNATS(ctx context.Context, js jetstream.JetStream, name string) (*NATS, error) {
	if err := ensureStream(ctx, js, name); err != nil {
		return nil, err
	}
	return &NATS{js: js, name: name}, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, name string) error {
	if js == nil {
		return errors.New("dualwrite: nil JetStream")
	}
	if !natsName.MatchString(name) {
		return fmt.Errorf("dualwrite: name %q: want 1 to 64 letters, digits, '_' or '-'", name)
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: NATSStream(name), Subjects: []string{"dualwrite." + name + ".*"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("dualwrite: JetStream stream %s: %w", NATSStream(name), err)
	}
	return nil
}

// Deliver publishes entries as one message and waits for the broker's
// acknowledgement. The message id (bucket and id range) lets the broker
// drop a batch published twice within its deduplication window.
func (n *NATS) Deliver(ctx context.Context, bucket int, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	b, err := json.Marshal(natsMessage{Bucket: bucket, Entries: entries})
	if err != nil {
		return fmt.Errorf("dualwrite: encoding bucket %d: %w", bucket, err)
	}
	id := fmt.Sprintf("%s.%d.%d-%d", n.name, bucket, entries[0].ID, entries[len(entries)-1].ID)
	if _, err := n.js.Publish(ctx, natsSubject(n.name, bucket), b, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("dualwrite: publishing bucket %d to %s: %w", bucket, NATSStream(n.name), err)
	}
	return nil
}

// Consumer applies the messages of a dual write's stream to the secondary
// through a Direct transport, and acknowledges a message only after its
// transaction committed (a message whose acknowledgement is lost comes
// again, and the bucket's stored position skips it). Consumers of one
// name share one durable JetStream consumer that has one message
// outstanding at a time, so messages apply in stream order, which keeps
// each key's order; several Consumers in several processes fail over.
//
// A message the secondary rejects is retried with backoff; once it was
// delivered MaxAttempts times its entries are applied one by one and
// those rejected are recorded in the outbox's dead-letter table (where a
// Relay's Alert picks them up).
type Consumer struct {
	o    *Outbox
	d    *Direct
	cons jetstream.Consumer
	cfg  relayConfig
}

// NewConsumer returns a consumer of the dual write called name through js
// that applies to the secondary through d. It accepts the RelayOptions
// WithMaxAttempts, WithBackoff, WithPoll and WithRelayLogger; others are
// refused.
func (o *Outbox) NewConsumer(ctx context.Context, js jetstream.JetStream, name string, d *Direct, opts ...RelayOption) (*Consumer, error) {
	if d == nil {
		return nil, errors.New("dualwrite: NewConsumer: nil Direct transport")
	}
	if err := ensureStream(ctx, js, name); err != nil {
		return nil, err
	}
	def := relayConfig{maxAttempts: 5, minBackoff: 100 * time.Millisecond, maxBackoff: 30 * time.Second, poll: time.Second, logger: slog.New(slog.DiscardHandler)}
	cfg := def
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("dualwrite: nil consumer option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.workers != def.workers || cfg.batch != def.batch || cfg.retention != def.retention || cfg.timeout != def.timeout || cfg.alert != nil {
		return nil, errors.New("dualwrite: NewConsumer: only WithMaxAttempts, WithBackoff, WithPoll and WithRelayLogger apply to a consumer")
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, NATSStream(name), jetstream.ConsumerConfig{
		Durable: "dualwrite-" + name, AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: 1, AckWait: consumerAckWait, MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("dualwrite: JetStream consumer of %s: %w", NATSStream(name), err)
	}
	return &Consumer{o: o, d: d, cons: cons, cfg: cfg}, nil
}

// Pending is the number of messages the consumer has not acknowledged.
func (c *Consumer) Pending(ctx context.Context) (uint64, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dualwrite: consumer info: %w", err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Run applies messages until ctx is done, then returns nil; broker and
// secondary errors are logged and retried.
func (c *Consumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := c.cons.Fetch(1, jetstream.FetchMaxWait(c.cfg.poll))
		if err != nil {
			c.pause(ctx, "fetch", err)
			continue
		}
		for msg := range batch.Messages() {
			if err := c.handle(ctx, msg); err != nil && ctx.Err() == nil {
				c.pause(ctx, "apply", err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			c.pause(ctx, "fetch", err)
		}
	}
	return nil
}

func (c *Consumer) pause(ctx context.Context, what string, err error) {
	c.cfg.logger.Warn("dualwrite: consumer "+what+" failed", "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(c.cfg.poll):
	}
}

// handle applies one message and acknowledges it, or naks it with a
// backoff.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) error {
	var m natsMessage
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		// Not ours: it can never apply.
		c.cfg.logger.Error("dualwrite: consumer dropped an undecodable message", "subject", msg.Subject(), "err", err)
		return msg.Term()
	}
	stop := c.keepInProgress(ctx, msg)
	err := c.d.Deliver(ctx, m.Bucket, m.Entries)
	stop()
	if errors.Is(err, ErrRejected) {
		md, merr := msg.Metadata()
		if merr == nil && md.NumDelivered >= uint64(c.cfg.maxAttempts) {
			err = c.bury(ctx, m, err)
		}
	}
	if err != nil {
		n := uint64(1)
		if md, merr := msg.Metadata(); merr == nil {
			n = md.NumDelivered
		}
		_ = msg.NakWithDelay(backoff(c.cfg, int(n)))
		return err
	}
	return c.ack(ctx, msg)
}

// consumerAckWait is how long the broker waits for a message's
// acknowledgement before it delivers the message again. With one message
// outstanding at a time, a message delivered just before the broker
// restarts or the connection drops blocks the consumer for this long:
// it is short, and a long apply extends it (keepInProgress).
const consumerAckWait = 10 * time.Second

// keepInProgress tells the broker every third of the ack wait that msg is
// still being applied, until the returned stop is called.
func (c *Consumer) keepInProgress(ctx context.Context, msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(consumerAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// ack acknowledges an applied message, retrying while the broker is away
// (a restart, a dropped connection) for at most the ack wait: a message
// applied and not acknowledged blocks the consumer until the broker
// delivers it again (the bucket's stored position then skips it).
func (c *Consumer) ack(ctx context.Context, msg jetstream.Msg) error {
	deadline := time.Now().Add(consumerAckWait)
	for {
		err := msg.DoubleAck(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		c.cfg.logger.Warn("dualwrite: consumer acknowledgement failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.cfg.minBackoff):
		}
	}
}

// bury applies a rejected message's entries one by one, recording those
// the secondary rejects as dead letters.
func (c *Consumer) bury(ctx context.Context, m natsMessage, batchErr error) error {
	for _, e := range m.Entries {
		err := c.d.Deliver(ctx, m.Bucket, []Entry{e})
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrRejected) {
			return err
		}
		e.Attempts = c.cfg.maxAttempts
		d := DeadLetter{Entry: e, Error: err.Error(), FailedAt: time.Now().UTC()}
		if err := c.o.recordDeadLetter(ctx, d); err != nil {
			return err
		}
		c.cfg.logger.Error("dualwrite: change moved to the dead-letter table", "id", e.ID, "table", e.Table, "key", e.Key, "err", err, "batch_err", batchErr)
	}
	return nil
}
