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
// through a Direct transport. It fetches up to WithBatch messages at a
// time (those the broker holds, without waiting for more) and applies them
// in one transaction on the secondary, in stream order, each key's entries
// in version order, skipping an entry whose key the secondary holds at
// its version or a later one (dualwrite_applied). Once the transaction
// committed it marks the messages' entries applied in the outbox
// (Outbox.MarkApplied: the switches that need the secondary up to date
// wait for that) and acknowledges each message. A message whose
// acknowledgement is lost comes again and its entries are skipped.
//
// Consumers of one name share one durable JetStream consumer; several
// Consumers in several processes share the messages and fail over. Their
// transactions go through one stream of the checkpoint database,
// BucketStream(name, Buckets), so that two never commit over versions the
// other changed (the loser reads the versions again): no key goes back.
// Relays delivering through Direct under the same name must not run at
// the same time as Consumers: their transactions go through the buckets'
// streams, which do not exclude the Consumers'.
//
// A transaction the secondary rejects is applied again by halves, down to
// the messages rejected, so that the others go on; a message rejected is
// retried with backoff; once it was delivered MaxAttempts times its
// entries are applied one by one and those rejected are recorded in the
// outbox's dead-letter table (where a Relay's Alert picks them up).
type Consumer struct {
	o    *Outbox
	d    *Direct
	cons jetstream.Consumer
	cfg  relayConfig
}

// consumerBucket is the bucket under which a Consumer delivers through its
// Direct: its transactions span buckets and go through one sink of their
// own, the stream BucketStream(name, Buckets).
const consumerBucket = Buckets

// maxTxnEntries bounds the entries of a Consumer's transaction: the
// messages of a fetch that hold more are applied in several.
const maxTxnEntries = 5000

// NewConsumer returns a consumer of the dual write called name through js
// that applies to the secondary through d. It accepts the RelayOptions
// WithBatch (messages fetched at a time and applied in one transaction of
// at most 5,000 entries, default 500), WithMaxAttempts, WithBackoff,
// WithPoll (the longest wait for a message) and WithRelayLogger; others
// are refused.
func (o *Outbox) NewConsumer(ctx context.Context, js jetstream.JetStream, name string, d *Direct, opts ...RelayOption) (*Consumer, error) {
	if d == nil {
		return nil, errors.New("dualwrite: NewConsumer: nil Direct transport")
	}
	if err := ensureStream(ctx, js, name); err != nil {
		return nil, err
	}
	def := relayConfig{batch: 500, maxAttempts: 5, minBackoff: 100 * time.Millisecond, maxBackoff: 30 * time.Second, poll: time.Second, logger: slog.New(slog.DiscardHandler)}
	cfg := def
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("dualwrite: nil consumer option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.workers != def.workers || cfg.retention != def.retention || cfg.timeout != def.timeout || cfg.alert != nil {
		return nil, errors.New("dualwrite: NewConsumer: only WithBatch, WithMaxAttempts, WithBackoff, WithPoll and WithRelayLogger apply to a consumer")
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, NATSStream(name), jetstream.ConsumerConfig{
		Durable: "dualwrite-" + name, AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: cfg.batch, AckWait: consumerAckWait, MaxDeliver: -1,
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
		msgs, err := c.fetch()
		if len(msgs) > 0 {
			if err := c.apply(ctx, msgs); err != nil && ctx.Err() == nil {
				c.pause(ctx, "apply", err)
				continue
			}
		}
		if err != nil && ctx.Err() == nil {
			c.pause(ctx, "fetch", err)
		}
	}
	return nil
}

// fetch returns up to the batch's messages the broker holds; when it holds
// none, it waits for one at most the poll, then takes those that came
// with it. With messages it may also return an error, of a later fetch.
func (c *Consumer) fetch() ([]jetstream.Msg, error) {
	msgs, err := collect(c.cons.FetchNoWait(c.cfg.batch))
	if len(msgs) > 0 || err != nil {
		return msgs, err
	}
	if msgs, err = collect(c.cons.Fetch(1, jetstream.FetchMaxWait(c.cfg.poll))); len(msgs) == 0 || err != nil || c.cfg.batch == 1 {
		return msgs, err
	}
	more, err := collect(c.cons.FetchNoWait(c.cfg.batch - 1))
	return append(msgs, more...), err
}

// collect reads the messages of a fetch.
func collect(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		msgs = append(msgs, msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return msgs, err
	}
	return msgs, nil
}

func (c *Consumer) pause(ctx context.Context, what string, err error) {
	c.cfg.logger.Warn("dualwrite: consumer "+what+" failed", "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(c.cfg.poll):
	}
}

// delivery is a decoded message.
type delivery struct {
	msg jetstream.Msg
	natsMessage
}

// apply applies msgs in order, in transactions of at most maxTxnEntries
// entries (and at least one message). It returns the rejections of the
// messages the secondary rejected, to be retried, after applying the
// others; on any other error it naks the messages not applied.
func (c *Consumer) apply(ctx context.Context, msgs []jetstream.Msg) error {
	var groups [][]delivery
	n := 0
	for _, msg := range msgs {
		var m natsMessage
		if err := json.Unmarshal(msg.Data(), &m); err != nil {
			// Not ours: it can never apply.
			c.cfg.logger.Error("dualwrite: consumer dropped an undecodable message", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		if len(groups) == 0 || n+len(m.Entries) > maxTxnEntries {
			groups, n = append(groups, nil), 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], delivery{msg, m})
		n += len(m.Entries)
	}
	var rejected []error
	for i, g := range groups {
		err := c.applyGroup(ctx, g)
		if errors.Is(err, ErrRejected) {
			rejected = append(rejected, err)
			continue
		}
		if err != nil {
			for _, rest := range groups[i+1:] {
				c.nak(rest)
			}
			return err
		}
	}
	return errors.Join(rejected...)
}

// applyGroup applies group's messages in one transaction and
// acknowledges them, or, if the secondary rejects the transaction, each
// half of them the same way. It returns an error wrapping ErrRejected
// when it applied the others and negatively acknowledged the messages
// rejected; on another error it negatively acknowledges those it did not
// acknowledge.
func (c *Consumer) applyGroup(ctx context.Context, group []delivery) error {
	if len(group) == 1 {
		return c.handle(ctx, group[0])
	}
	var entries []Entry
	for _, d := range group {
		entries = append(entries, d.Entries...)
	}
	msgs := make([]jetstream.Msg, len(group))
	for i, d := range group {
		msgs[i] = d.msg
	}
	stop := c.keepInProgress(ctx, msgs...)
	err := c.d.Deliver(ctx, consumerBucket, entries)
	stop()
	if errors.Is(err, ErrRejected) {
		// Find the messages rejected by halves, in order: they are retried
		// later, alone, and the others go on.
		c.cfg.logger.Info("dualwrite: consumer transaction rejected, applying its halves", "messages", len(group), "err", err)
		half := len(group) / 2
		first := c.applyGroup(ctx, group[:half])
		if first != nil && !errors.Is(first, ErrRejected) {
			c.nak(group[half:])
			return first
		}
		second := c.applyGroup(ctx, group[half:])
		if second != nil && !errors.Is(second, ErrRejected) {
			return second
		}
		return errors.Join(first, second)
	}
	if err == nil {
		err = c.o.MarkApplied(ctx, ids(entries))
	}
	if err != nil {
		c.nak(group)
		return err
	}
	return c.ackAll(ctx, group)
}

// ackAll acknowledges the messages of group, applied, several at a time:
// one round trip to the broker each. A message whose acknowledgement
// fails comes again and its entries are skipped.
func (c *Consumer) ackAll(ctx context.Context, group []delivery) error {
	errs := make([]error, len(group))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(group), 16) {
		wg.Go(func() {
			for i := range next {
				errs[i] = c.ack(ctx, group[i].msg)
			}
		})
	}
	for i := range group {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// nak negatively acknowledges the messages of group with the backoff of
// their deliveries so far.
func (c *Consumer) nak(group []delivery) {
	for _, d := range group {
		n := uint64(1)
		if md, err := d.msg.Metadata(); err == nil {
			n = md.NumDelivered
		}
		_ = d.msg.NakWithDelay(backoff(c.cfg, int(n)))
	}
}

func ids(entries []Entry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// handle applies one message, marks its entries applied and acknowledges
// it, or naks it with a backoff.
func (c *Consumer) handle(ctx context.Context, d delivery) error {
	stop := c.keepInProgress(ctx, d.msg)
	err := c.d.Deliver(ctx, consumerBucket, d.Entries)
	stop()
	if errors.Is(err, ErrRejected) {
		md, merr := d.msg.Metadata()
		if merr == nil && md.NumDelivered >= uint64(c.cfg.maxAttempts) {
			err = c.bury(ctx, d.natsMessage, err)
		}
	}
	if err == nil {
		err = c.o.MarkApplied(ctx, ids(d.Entries))
	}
	if err != nil {
		c.nak([]delivery{d})
		return err
	}
	return c.ack(ctx, d.msg)
}

// consumerAckWait is how long the broker waits for a message's
// acknowledgement before it delivers the message again. A message
// delivered just before the broker restarts or the connection drops
// holds one of the batch's places for this long: it is short, and a long
// apply extends it (keepInProgress).
const consumerAckWait = 10 * time.Second

// keepInProgress tells the broker every third of the ack wait that msgs
// are still being applied, until the returned stop is called.
func (c *Consumer) keepInProgress(ctx context.Context, msgs ...jetstream.Msg) (stop func()) {
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
				for _, msg := range msgs {
					_ = msg.InProgress()
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// ack acknowledges an applied message, retrying while the broker is away
// (a restart, a dropped connection) for at most the ack wait: a message
// applied and not acknowledged comes again once the broker delivers it
// again (its entries are then skipped).
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
		err := c.d.Deliver(ctx, consumerBucket, []Entry{e})
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
