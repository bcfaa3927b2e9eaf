package binlog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// Stream reads a source's binary log as a replica does and delivers the
// transactions that change the followed tables to a rowchange.Sink. Its
// methods are safe for concurrent use; Run runs once at a time.
type Stream struct {
	cfg    Config
	dsn    *mysql.Config
	host   string
	port   uint16
	follow map[rowchange.Table]bool

	running atomic.Bool
	hurry   atomic.Int32 // open Hurry calls

	mu sync.Mutex
	// position is after the last Txn the sink accepted (Apply returned
	// nil): where a reconnect resumes. durable is after the last Txn the
	// sink made durable (for a rowchange.Flusher, at its last Flush): where
	// the next Run resumes.
	position, durable string
	stats             Stats
	pending           []time.Time // source times of Txns handed to the sink, not yet durable
	accepted          int         // of pending, the first ones accepted
	acceptedTime      time.Time   // source time of the last one accepted
	runStart          time.Time   // first unfollowed transaction not yet covered by a delivered position
}

// Stats are the stream's counters, for lag reports.
type Stats struct {
	// Position is Stream.Position: after the last transaction the sink
	// made durable, or the start position.
	Position string
	// LastCommit is the source commit time of that transaction.
	LastCommit time.Time
	// Behind is how long ago the source committed the oldest transaction
	// read and not yet durable; 0 when every transaction read is durable.
	// Whether the stream has read all the source logged is for
	// CurrentPosition to tell.
	Behind time.Duration
	// Applied counts transactions the sink accepted (position-only ones
	// included), Changes the row changes delivered, Events the binlog
	// events read.
	Applied, Changes, Events uint64
	// Skipped counts the row events of tables not followed, whose rows
	// were never decoded (their transactions still move the position).
	Skipped uint64
	// Buffered is the budget in use now (bytes of changes read and not yet
	// released by the sink); PeakBuffered its highest value.
	Buffered, PeakBuffered int64
	// Reconnects counts replication connections reopened.
	Reconnects int
}

// New checks cfg (Validate) and returns a stream that has not connected
// yet.
func New(cfg Config) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dsn, err := conn.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("binlog: source: %w", err)
	}
	if dsn.Net != "tcp" {
		return nil, fmt.Errorf("binlog: source %s: network %q: a replication connection needs tcp", conn.Endpoint(dsn), dsn.Net)
	}
	host, portText, err := net.SplitHostPort(dsn.Addr)
	if err != nil {
		return nil, fmt.Errorf("binlog: source address %q: %w", dsn.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("binlog: source address %q: bad port", dsn.Addr)
	}
	s := &Stream{cfg: cfg, dsn: dsn, host: host, port: uint16(port), follow: map[rowchange.Table]bool{}, position: cfg.Start, durable: cfg.Start}
	for _, t := range cfg.Tables {
		s.follow[t] = true
	}
	s.stats.Position = cfg.Start
	return s, nil
}

// Hurry makes the stream hand the position of every transaction it reads
// over to the sink at once, until done is called, instead of at most once
// a second while only unfollowed transactions flow: for a caller that
// waits, under a lock, until the sink holds a position. A position read
// before the call goes over with the next transaction the source logs or,
// at the latest, with its next heartbeat (Config.Heartbeat). Calls may overlap; done may be called more
// than once.
func (s *Stream) Hurry() (done func()) {
	s.hurry.Add(1)
	var once sync.Once
	return func() { once.Do(func() { s.hurry.Add(-1) }) }
}

// Server is the source's host:port.
func (s *Stream) Server() string { return conn.Endpoint(s.dsn) }

// Check runs Check on the source, from the stream's current position.
func (s *Stream) Check(ctx context.Context) (Source, error) {
	db, err := conn.Open(ctx, s.dsn, conn.Options{MaxConns: 1, Logger: s.cfg.Logger,
		Timeouts: conn.Timeouts{Read: s.cfg.ReadTimeout}})
	if err != nil {
		return Source{Server: s.Server()}, fmt.Errorf("binlog: %w", err)
	}
	defer db.Close()
	return Check(ctx, db, s.Server(), s.Position())
}

// Position is where the next Run resumes: after the last transaction the
// sink made durable (Apply returned nil; for a rowchange.Flusher, Flush
// returned nil after it).
func (s *Stream) Position() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Stats returns the counters now.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Position = s.durable
	oldest := s.runStart
	if len(s.pending) > 0 && (oldest.IsZero() || s.pending[0].Before(oldest)) {
		oldest = s.pending[0]
	}
	if !oldest.IsZero() {
		st.Behind = max(time.Since(oldest), 0)
	}
	return st
}

// Run checks the source (Check) before each replication connection it
// opens, then streams from the position: it calls
// sink.Apply once per transaction that changes a followed table, in commit
// order, with the changes delivered through Txn.Changes while the binary
// log is still being read, within the budget; and, at most every second
// while only other tables change, a position-only Txn (Changes nil). A
// DDL on a followed table is handled by the DDL policy.
//
// A sink that is a rowchange.Flusher is flushed whenever Run has handed
// over every transaction read (its queue stayed empty for flushGrace,
// 1 ms) and before Run waits for anything else: to reconnect, or to return
// for any reason but a sink error or ctx's end (see rowchange.Sink and
// rowchange.Flusher).
//
// When the replication connection is lost (an error, or no event for
// ReadTimeout), Batches.Next of the transaction being delivered returns an
// error wrapping ErrConnection; the sink returns it wrapped, keeping what
// it accepted before, and Run flushes it and reconnects, after a backoff,
// from the position of the last Txn whose Apply returned nil, so that
// nothing is applied twice and nothing is skipped. A source that does not
// answer the check (down or restarting, when Run starts or reconnects:
// conn.Lost) is waited for the same way, with the same backoff and
// MaxAttempts; a check that the source answers with a refusal (binlog
// settings, GTIDs, a purged or unknown position) stops Run at once with
// its error, whenever it happens. Any other error the
// sink's Apply or Flush returns stops Run, which returns it wrapped. Run
// returns ctx's error when ctx ends, ErrPurged when the source no longer
// has the position's binary log (it never restarts from elsewhere), and a
// *DDLError under DDLStop. A Run after one that ended resumes from
// Position: what the sink made durable.
func (s *Stream) Run(ctx context.Context, sink rowchange.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("binlog: Run is already running")
	}
	defer s.running.Store(false)
	s.mu.Lock()
	s.position, s.pending, s.accepted = s.durable, nil, 0
	s.mu.Unlock()
	wait, failed := s.cfg.BackoffMin, 0
	for {
		progressed, err := s.connect(ctx, sink)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *sinkError
		if errors.As(err, &se) {
			return err
		}
		if ferr := s.flush(ctx, sink); ferr != nil {
			return ferr
		}
		var ce *connError
		if !errors.As(err, &ce) {
			return err
		}
		if progressed {
			wait, failed = s.cfg.BackoffMin, 0
		}
		failed++
		if s.cfg.MaxAttempts > 0 && failed >= s.cfg.MaxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, failed)
		}
		if ce.check {
			s.cfg.Logger.Warn("binlog: source unreachable, retrying", "server", s.Server(),
				"position", s.Position(), "wait", wait, "error", err)
		} else {
			s.cfg.Logger.Warn("binlog: replication connection lost, reconnecting", "server", s.Server(),
				"position", s.Position(), "wait", wait, "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.BackoffMax)
		s.mu.Lock()
		s.stats.Reconnects++
		s.mu.Unlock()
	}
}

// connect checks the source (Check, from the position the session
// resumes after) and streams one session. A connection-level failure of
// the check (conn.Lost: the source down or restarting) is a *connError,
// which Run retries as it does a lost replication connection; a refusal
// (a setting, a purged or unknown position, the server id) is returned as
// it is, and Run stops.
func (s *Stream) connect(ctx context.Context, sink rowchange.Sink) (progressed bool, err error) {
	src, err := s.Check(ctx)
	if conn.Lost(err) {
		return false, &connError{server: s.Server(), err: err, check: true}
	}
	if err != nil {
		return false, err
	}
	if src.ServerID == s.cfg.ServerID {
		return false, fmt.Errorf("binlog: server %s: its server_id is %d, the stream's own server id", s.Server(), src.ServerID)
	}
	return s.session(ctx, sink, src.Flavor)
}

// connError is a lost replication connection, or a source that did not
// answer the check before one (check): Run reconnects.
type connError struct {
	server string
	err    error
	check  bool
}

func (e *connError) Error() string {
	if e.check {
		// Check's errors name the server.
		return fmt.Sprintf("%v: %v", ErrConnection, e.err)
	}
	return fmt.Sprintf("binlog: server %s: %v: %v", e.server, ErrConnection, e.err)
}

func (e *connError) Unwrap() []error { return []error{ErrConnection, e.err} }

// sinkError is an error of the sink's Apply or Flush: Run stops.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }

func (e *sinkError) Unwrap() error { return e.err }

// classify turns an error of the replication connection into what Run
// does with it: retry (a *connError) or stop.
func (s *Stream) classify(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		msg := termtext.Line(me.Message)
		switch me.Code {
		case gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG:
			lower := strings.ToLower(me.Message)
			switch {
			case strings.Contains(lower, "purged"):
				return fmt.Errorf("binlog: server %s: %s: %w", s.Server(), msg, ErrPurged)
			case strings.Contains(lower, "not in the master's binlog"), strings.Contains(lower, "beyond"):
				return fmt.Errorf("binlog: server %s: %s: %w", s.Server(), msg, ErrPositionAhead)
			}
			return fmt.Errorf("binlog: server %s: the source refused to stream: %s", s.Server(), msg)
		case gomysql.ER_ACCESS_DENIED_ERROR, gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, gomysql.ER_DBACCESS_DENIED_ERROR:
			return fmt.Errorf("binlog: server %s: %s", s.Server(), msg)
		}
	}
	return &connError{server: s.Server(), err: err}
}

// item is what the reader hands to Run: a transaction, or an error that
// stops Run once the transactions before it are applied.
type item struct {
	tx  rowchange.Txn
	err error
}

// session streams over one replication connection until it fails, the
// sink fails or ctx ends. progressed tells whether a transaction was
// applied.
func (s *Stream) session(ctx context.Context, sink rowchange.Sink, flavor string) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	r, err := s.newReader(sctx, flavor)
	if err != nil {
		cancel()
		return false, err
	}
	dialer := &net.Dialer{KeepAlive: 15 * time.Second, Timeout: conn.DefaultConnectTimeout}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                s.cfg.ServerID,
		Flavor:                  flavor,
		Host:                    s.host,
		Port:                    s.port,
		User:                    s.dsn.User,
		Password:                s.dsn.Passwd,
		Localhost:               "shiftgate",
		TLSConfig:               s.dsn.TLS,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         s.cfg.Heartbeat,
		ReadTimeout:             s.cfg.ReadTimeout,
		DisableRetrySync:        true,
		Logger:                  s.cfg.Logger,
		Dialer:                  dialer.DialContext,
		SynchronousEventHandler: r,
		RowsEventDecodeFunc:     s.decodeRows,
	})
	defer func() {
		cancel() // unblocks the reader, which go-mysql's Close waits for
		syncer.Close()
		r.budget.drop()
	}()
	after := r.gset.String()
	streamer, err := syncer.StartSyncGTID(r.gset.Clone()) // go-mysql keeps its own
	if err != nil {
		return false, s.classify(err)
	}
	s.cfg.Logger.Info("binlog: streaming", "server", s.Server(), "server_id", s.cfg.ServerID, "after", after)
	go func() {
		// In synchronous mode go-mysql's streamer only ever carries the
		// error that ended the connection.
		_, err := streamer.GetEvent(sctx)
		if sctx.Err() == nil {
			r.fail(s.classify(err))
		}
	}()
	// take applies one queued item; a nil error goes on.
	take := func(it item) error {
		if it.err != nil {
			return it.err
		}
		if err := s.apply(ctx, sink, it.tx); err != nil {
			if r.failed() && errors.Is(err, r.err) {
				return r.err
			}
			return err
		}
		progressed = true
		return nil
	}
	grace := time.NewTimer(flushGrace)
	defer grace.Stop()
	for {
		select {
		case it := <-r.queue:
			if err := take(it); err != nil {
				return progressed, err
			}
			continue
		default:
		}
		// Everything read is handed over: the sink commits before the
		// stream waits for the source, unless the reader hands over the
		// next transaction within flushGrace (it was decoding it).
		if s.unflushed(sink) {
			grace.Reset(flushGrace)
			select {
			case it := <-r.queue:
				if err := take(it); err != nil {
					return progressed, err
				}
				continue
			case <-grace.C:
			case <-r.dead:
			case <-ctx.Done():
				return progressed, ctx.Err()
			}
			if err := s.flush(ctx, sink); err != nil {
				return progressed, err
			}
		}
		select {
		case it := <-r.queue:
			if err := take(it); err != nil {
				return progressed, err
			}
		case <-r.dead:
			// Apply what was read whole before the failure; the
			// transaction it cut short fails in Next.
			for {
				select {
				case it := <-r.queue:
					if err := take(it); err != nil {
						return progressed, err
					}
				default:
					return progressed, r.err
				}
			}
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
	}
}

// apply hands one transaction to the sink and records its position.
func (s *Stream) apply(ctx context.Context, sink rowchange.Sink, tx rowchange.Txn) error {
	if err := sink.Apply(ctx, tx); err != nil {
		return &sinkError{fmt.Errorf("binlog: sink: transaction %s: %w", tx.ID, err)}
	}
	if b, ok := tx.Changes.(*batches); ok && !b.eof {
		return &sinkError{fmt.Errorf("binlog: sink: transaction %s: Apply returned before reading the changes to io.EOF", tx.ID)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.position = tx.Position
	s.stats.Applied++
	s.accepted++
	s.acceptedTime = tx.Time
	if _, ok := sink.(rowchange.Flusher); !ok {
		s.madeDurable()
	}
	return nil
}

// flushGrace is how long the queue stays empty before Run flushes the
// sink: a reader still decoding the next transaction hands it over well
// within it, so a backlog is applied in full groups, and an idle stream
// makes its last transaction durable this much later.
const flushGrace = time.Millisecond

// unflushed reports a rowchange.Flusher sink that accepted transactions
// since its last Flush.
func (s *Stream) unflushed(sink rowchange.Sink) bool {
	if _, ok := sink.(rowchange.Flusher); !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted > 0
}

// flush flushes a rowchange.Flusher sink that accepted transactions since
// its last Flush.
func (s *Stream) flush(ctx context.Context, sink rowchange.Sink) error {
	if !s.unflushed(sink) {
		return nil
	}
	if err := sink.(rowchange.Flusher).Flush(ctx); err != nil {
		return &sinkError{fmt.Errorf("binlog: sink: flush: %w", err)}
	}
	s.mu.Lock()
	s.madeDurable()
	s.mu.Unlock()
	return nil
}

// madeDurable records the transactions accepted as durable; s.mu held.
func (s *Stream) madeDurable() {
	if s.accepted == 0 {
		return
	}
	s.durable = s.position
	s.stats.LastCommit = s.acceptedTime
	s.pending = s.pending[min(s.accepted, len(s.pending)):]
	s.accepted = 0
}

// handed records a Txn of source time t handed to Run's queue, for
// Behind; it covers the unfollowed transactions read before it.
func (s *Stream) handed(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runStart.IsZero() && s.runStart.Before(t) {
		t = s.runStart
	}
	s.runStart = time.Time{}
	s.pending = append(s.pending, t)
}

// unfollowed records an unfollowed transaction read at t, for Behind.
func (s *Stream) unfollowed(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runStart.IsZero() {
		s.runStart = t
	}
}

// resetPending forgets what a lost connection had read and the sink has
// not accepted.
func (s *Stream) resetPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending, s.runStart = s.pending[:min(s.accepted, len(s.pending))], time.Time{}
}

// decodeRows is go-mysql's rows-event decoder: it decodes the header of
// every row event (table id, flags, table map) but the rows of followed
// tables only, matched as the reader matches table maps. The reader drops
// the event of another table by its table id before looking at its rows,
// so leaving them undecoded changes nothing it delivers; it saves the
// decoding of a chunk copy's millions of rows into a table nobody
// follows (an online ALTER's shadow table), the bulk of a stream's CPU.
// It runs on go-mysql's reading goroutine.
func (s *Stream) decodeRows(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	if s.follow[rowchange.Table{Schema: string(e.Table.Schema), Name: string(e.Table.Table)}] {
		return e.DecodeData(pos, data)
	}
	s.mu.Lock()
	s.stats.Skipped++
	s.mu.Unlock()
	return nil
}

func (s *Stream) countEvent() {
	s.mu.Lock()
	s.stats.Events++
	s.mu.Unlock()
}

func (s *Stream) countChanges(n int, buffered, peak int64) {
	s.mu.Lock()
	s.stats.Changes += uint64(n)
	s.stats.Buffered = buffered
	s.stats.PeakBuffered = max(s.stats.PeakBuffered, peak)
	s.mu.Unlock()
}

func (s *Stream) setBuffered(buffered, peak int64) {
	s.mu.Lock()
	s.stats.Buffered = buffered
	s.stats.PeakBuffered = max(s.stats.PeakBuffered, peak)
	s.mu.Unlock()
}
