package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// keepAlive is how long an event stream may stay silent: a comment line
// then keeps proxies from closing it.
const keepAlive = 15 * time.Second

// streamLimit ends every stream after a while, so that a server's
// graceful shutdown never waits for one for long; EventSource clients
// reconnect by themselves after the retry delay the stream names.
const streamLimit = time.Minute

// events streams ticket id's summary as server-sent events: one "ticket"
// event at once and one whenever its state or progress changes, then an
// "end" event once it is final. It reads the store, so it follows
// tickets run by any process. A stream lasts at most streamLimit.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, _ User) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	d, err := h.engine.Get(r.Context(), id)
	if err != nil {
		return err // before the stream starts: an ordinary error response
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream outlives a server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	limit := time.NewTimer(streamLimit)
	defer limit.Stop()

	tick := time.NewTicker(h.eventsEvery)
	defer tick.Stop()
	var last []byte
	quiet := time.Now()
	for {
		s := summaryOf(d.Ticket)
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		switch {
		case !bytes.Equal(b, last):
			_, err = fmt.Fprintf(w, "event: ticket\ndata: %s\n\n", b)
			last, quiet = b, time.Now()
		case time.Since(quiet) >= keepAlive:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
			quiet = time.Now()
		}
		if err == nil && d.Ticket.State.Final() {
			if _, err := fmt.Fprint(w, "event: end\ndata: {}\n\n"); err == nil {
				_ = rc.Flush()
			}
			return nil
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return nil // the client left
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-limit.C:
			return nil
		case <-tick.C:
		}
		if d, err = h.engine.Get(r.Context(), id); err != nil {
			if r.Context().Err() == nil {
				h.logger.Warn("console event stream: reading the ticket failed", "ticket", id, "err", err)
			}
			return nil
		}
	}
}
