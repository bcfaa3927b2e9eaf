package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/termtext"

	"github.com/shiftgate/shiftgate/migrate"
)

// event is one line of run's -json output on stdout.
type event struct {
	// Event is progress, cutover_started, cutover_failed, switch_waiting,
	// and last one of done, stopped or failed.
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	// Progress is the status (progress).
	*migrate.Progress
	// Trigger is what started the cutover (cutover_started).
	Trigger string `json:"trigger,omitempty"`
	// Error is why a cutover or the run failed, or why it stopped.
	Error string `json:"error,omitempty"`
	// Resumable says that running the same command again resumes
	// (stopped).
	Resumable bool `json:"resumable,omitempty"`
	// Report is the run's report (done, stopped, failed).
	Report *migrate.Report `json:"report,omitempty"`
	// Reverse marks the events of movedb reverse and end: the reverse
	// sync's progress (lag of the source behind the target), its cut-back
	// ("cutover_..." events), "window_ended".
	Reverse bool `json:"reverse,omitempty"`
}

// console writes what a run says: lines for people on stderr, and with
// -json events on stdout; one writer at a time.
type console struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	json           bool
	// reverse marks every event (movedb reverse).
	reverse bool
}

// say writes one line for people on stderr, escaped.
func (c *console) say(format string, args ...any) {
	c.sayEscaped(termtext.Line(fmt.Sprintf(format, args...)))
}

// sayEscaped writes text that is safe for a terminal already.
func (c *console) sayEscaped(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.stderr, "movedb: %s\n", text)
}

// emit writes e as one JSON line on stdout with -json.
func (c *console) emit(e event) {
	if !c.json {
		return
	}
	e.Time, e.Reverse = time.Now(), c.reverse
	c.mu.Lock()
	defer c.mu.Unlock()
	writeJSON(c.stdout, e, "")
}

// status is the progress line of p.
func status(p migrate.Progress) string {
	if p.Phase == migrate.PhaseCopying || p.Phase == "" {
		return "copying: " + p.String()
	}
	s := fmt.Sprintf("%s: lag %s (%d txns behind), %d rows applied in %d txns, %.0f rows/s", p.Phase, p.Lag.Round(time.Millisecond), p.LagTxns, p.AppliedRows, p.AppliedTxns, p.ApplyRowsPerSecond)
	if copied := p.Rows - p.AppliedRows; copied > 0 {
		s += fmt.Sprintf(", %d rows copied", copied)
	}
	if p.StreamPosition != "" {
		s += ", at " + p.StreamPosition
	}
	return s
}

var (
	errStopRequested = errors.New(`stopped by a "stop" line on stdin`)
	errGaveUp        = errors.New("too many failed cutovers")
	errSwitchAborted = errors.New(`switch abandoned by an "abort" line on stdin`)
	errStdinClosed   = errors.New("stdin closed: nobody can confirm the switch")
)

type cutResult struct {
	report *migrate.CutoverReport
	err    error
}

// run runs the move until it cut over, stopped or failed, taking the
// cutover triggers and commands from stdin and signals.
func (m *move) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	c := &console{stdout: stdout, stderr: stderr, json: m.o.json, reverse: m.back}
	word, line, prefix := "cutover", "cutover", ""
	if m.back {
		word, line, prefix = "cut-back", "cutback", "reverse sync: "
	}
	m.con = c
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	done := make(chan struct{})
	defer close(done)

	var (
		mu   sync.Mutex
		last migrate.Progress
	)
	inSync := make(chan struct{}, 1)
	progress := func(p migrate.Progress) {
		mu.Lock()
		last = p
		mu.Unlock()
		c.say("%s%s", prefix, status(p))
		c.emit(event{Event: "progress", Progress: &p})
		if m.o.cutoverWhenInSync && p.Phase == migrate.PhaseInSync {
			select {
			case inSync <- struct{}{}:
			default:
			}
		}
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-done:
				return
			}
		}
	}()

	runDone := make(chan struct{})
	var rep *migrate.Report
	var runErr error
	go func() {
		defer close(runDone)
		rep, runErr = m.exec.Run(runCtx, progress)
	}()

	// Cutovers run beside the loop, bounded by the run: a Cutover
	// called as Run returns must not wait for ever.
	cutCtx, stopCuts := context.WithCancel(runCtx)
	var cuts sync.WaitGroup
	results := make(chan cutResult, 1)
	cutting, failures := false, 0
	startCutover := func(trigger string, quiet bool) {
		if cutting {
			if !quiet {
				c.say("a %s is already under way (%s ignored)", word, trigger)
			}
			return
		}
		c.say("%s triggered by %s", word, trigger)
		c.emit(event{Event: "cutover_started", Trigger: trigger})
		// Sync.Cutover waits, while copying, until the copy is over
		// before it refuses: refused here at once.
		if p := m.exec.Phase(); p == "" || p == migrate.PhaseCopying {
			err := fmt.Errorf("%w: %s", migrate.ErrNotInSync, phaseText(p))
			c.sayEscaped(word + " refused:\n" + describeCutover(err))
			c.emit(event{Event: "cutover_failed", Error: err.Error()})
			return
		}
		cutting = true
		cuts.Go(func() {
			r, err := m.cut(cutCtx)
			results <- cutResult{r, err}
		})
	}
	var pending chan<- error // a switch waiting for "switched" or "abort"
	stdinOpen := true
loop:
	for {
		select {
		case <-runDone:
			break loop
		case l, ok := <-lines:
			if !ok {
				lines, stdinOpen = nil, false
				if pending != nil {
					pending <- errStdinClosed
					pending = nil
				}
				continue
			}
			switch l {
			case "":
			case line:
				startCutover(fmt.Sprintf("a %q line on stdin", line), false)
			case "status":
				mu.Lock()
				p := last
				mu.Unlock()
				c.say("%s%s", prefix, status(p))
				c.emit(event{Event: "progress", Progress: &p})
			case "stop":
				stopRun(errStopRequested)
			case "switched", "abort":
				if pending == nil {
					c.say("no switch is waiting: %q ignored", l)
					continue
				}
				if l == "switched" {
					pending <- nil
				} else {
					pending <- errSwitchAborted
				}
				pending = nil
			default:
				c.say("unknown command %q on stdin (want %s, status or stop; switched or abort while a switch waits)", l, line)
			}
		case <-signals:
			startCutover(cutoverSignalName, false)
		case <-inSync:
			startCutover("-cutover-when-in-sync", true)
		case reply := <-m.confirms:
			if !stdinOpen {
				reply <- errStdinClosed
				continue
			}
			pending = reply
			if m.back {
				c.say(`writes to the moved tables are stopped on the target, and the source holds them all, verified: point the application back at the source now, then type "switched" (or "abort" to restore the target's writes and go on with the reverse sync)`)
			} else {
				c.say(`writes to the moved tables are stopped on the source, and the target holds them all, verified: point the application at the target now, then type "switched" (or "abort" to restore the source's writes and go on syncing)`)
			}
			c.emit(event{Event: "switch_waiting"})
		case r := <-results:
			cutting = false
			switch {
			case r.err == nil && m.back:
				c.say("cut back: write pause %s; the application is on the source", r.report.Pause.Round(time.Millisecond))
				continue // Run returns with the report
			case r.err == nil:
				c.say("cut over: write pause %s; the application is on the target", r.report.Pause.Round(time.Millisecond))
				continue
			case m.back:
				c.sayEscaped("cut-back failed; the target's writes are restored (unless said otherwise) and the reverse sync goes on:\n" + describeCutover(r.err))
			default:
				c.sayEscaped("cutover failed; the source's writes are restored (unless said otherwise) and the sync goes on:\n" + describeCutover(r.err))
			}
			c.emit(event{Event: "cutover_failed", Error: r.err.Error()})
			if m.o.cutoverWhenInSync && !errors.Is(r.err, migrate.ErrNotInSync) && runCtx.Err() == nil {
				if failures++; failures >= m.o.cutoverAttempts {
					c.say("%d %s(s) failed: stopping", failures, word)
					stopRun(errGaveUp)
				}
			}
		}
	}
	stopCuts()
	cuts.Wait()
	mu.Lock()
	phase := last.Phase
	mu.Unlock()

	cause := context.Cause(runCtx)
	switch {
	case runErr == nil:
		switch {
		case m.o.json:
			c.emit(event{Event: "done", Report: rep})
		case m.back:
			printCutBack(stdout, rep)
		default:
			printDone(stdout, rep)
			if m.o.reverse {
				fmt.Fprintln(stdout, "  rollback window open: the source stays fenced; run movedb reverse with the same flags to carry the application's writes back to the source and cut back, or movedb end to close the window")
			}
		}
		return exitDone
	case runCtx.Err() != nil && !errors.Is(cause, errGaveUp):
		c.say("stopped (%v) while %s: %s", cause, phaseText(phase), problem(runErr))
		c.say("the move is resumable: run the same command again to resume it")
		c.emit(event{Event: "stopped", Error: runErr.Error(), Resumable: true, Report: rep})
		return exitStopped
	default:
		text := describe(runErr)
		if errors.Is(cause, errGaveUp) {
			text = fmt.Sprintf("%d %s(s) failed (-cutover-attempts): the sync stopped; run the same command again to resume it and try again", failures, word)
		} else if hint(runErr) == "" && !errors.Is(runErr, migrate.ErrRowsDiffer) {
			text += "\n  hint: once the cause is fixed, run the same command again: it resumes where it stopped"
		}
		c.sayEscaped("the move failed:\n" + text)
		c.emit(event{Event: "failed", Error: runErr.Error(), Report: rep})
		return exitFailed
	}
}

// describeCutover renders the error of a cutover for the terminal, with
// a hint when there is one that helps the next attempt.
func describeCutover(err error) string {
	h := ""
	switch {
	case errors.Is(err, migrate.ErrNotInSync):
		h = "trigger the cutover again once the status says in sync"
	case errors.Is(err, migrate.ErrDrain):
		h = "end those sessions, or wait longer with -drain-wait, or kill them with -kill (-fence accounts)"
	case errors.Is(err, migrate.ErrCatchUpTimeout):
		h = "trigger the cutover again when the source is less busy, or wait longer with -cutover-timeout"
	case errors.Is(err, migrate.ErrNotVerified):
		h = "something else writes to the target, or the source changed unseen; compare the tables with verifydb"
	}
	return termtext.Line(problem(err)) + withHint(h)
}

func phaseText(p migrate.Phase) string {
	if p == "" {
		return "starting"
	}
	return string(p)
}

// problem is err's text without the library's hints, which name its
// options rather than movedb's flags.
func problem(err error) string {
	var ee *migrate.EndpointError
	var ie *migrate.IncompleteError
	switch {
	case errors.As(err, &ie):
		return ie.Problem()
	case errors.As(err, &ee):
		return ee.Problem()
	}
	return err.Error()
}

// printDone writes the summary of a move that cut over.
func printDone(w io.Writer, r *migrate.Report) {
	line := termtext.Line
	fmt.Fprintf(w, "moved %s/%s -> %s/%s: cut over\n", line(r.Source), line(r.SourceDatabase), line(r.Target), line(r.TargetDatabase))
	if cut := r.Cutover; cut != nil {
		fmt.Fprintf(w, "  write pause on the source: %s (%s; catch-up %s, verification %s)\n",
			cut.Pause.Round(time.Millisecond), cut.Method, cut.CatchUp.Round(time.Millisecond), cut.Verify.Round(time.Millisecond))
		fmt.Fprintf(w, "  verified equal: %d tables, %d rows\n", cut.VerifiedTables, cut.VerifiedRows)
		fmt.Fprintf(w, "  source position at the cutover: %s (the target holds everything up to it)\n", line(cut.SourcePosition))
		if cut.DrainKilled > 0 {
			accounts := make([]string, len(cut.DrainKilledAccounts))
			for i, a := range cut.DrainKilledAccounts {
				accounts[i] = line(a)
			}
			fmt.Fprintf(w, "  killed %d session(s) of %s still active on the source when the drain's wait ended (their uncommitted writes were rolled back)\n", cut.DrainKilled, strings.Join(accounts, ", "))
		}
		if cut.KilledSessions > 0 {
			fmt.Fprintf(w, "  killed %d source session(s) whose writes were queued behind the lock\n", cut.KilledSessions)
		}
		if cut.UnappliedChanges > 0 {
			fmt.Fprintf(w, "  NOT on the target: %d row change(s) the source took after the crashed cutover's lock ended, up to %s: reconcile them by hand\n", cut.UnappliedChanges, line(cut.UnappliedUntil))
		}
	}
	if r.Rows > 0 {
		fmt.Fprintf(w, "  copied by this run: %d rows\n", r.Rows)
	}
	if r.Resumed {
		fmt.Fprintf(w, "  resumed an interrupted copy\n")
	}
	fmt.Fprintf(w, "  applied from the binary log by this run: %d rows in %d transactions, in %s\n", r.AppliedRows, r.AppliedTxns, r.Duration.Round(time.Second))
}

// printCutBack writes the summary of a reverse sync that cut back.
func printCutBack(w io.Writer, r *migrate.Report) {
	line := termtext.Line
	fmt.Fprintf(w, "cut back %s/%s -> %s/%s: the application is on the source again, the rollback window is closed\n", line(r.Source), line(r.SourceDatabase), line(r.Target), line(r.TargetDatabase))
	if cut := r.Cutover; cut != nil {
		fmt.Fprintf(w, "  write pause: %s (%s)\n", cut.Pause.Round(time.Millisecond), cut.Method)
		if cut.VerifiedTables > 0 {
			fmt.Fprintf(w, "  verified equal: %d tables, %d rows\n", cut.VerifiedTables, cut.VerifiedRows)
		}
	}
	fmt.Fprintf(w, "  applied from the target's binary log by this run: %d rows in %d transactions\n", r.AppliedRows, r.AppliedTxns)
}
