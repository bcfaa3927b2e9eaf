package console_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// BenchmarkConsole10k: the API list, the list page, a keyword search and
// a ticket's detail with 10,000 reviewed tickets in the MySQL store, each
// reported with its p95 in milliseconds. Run it with
// go test -run '^$' -bench Console ./workflow/console/.
func BenchmarkConsole10k(b *testing.B) {
	db := sandboxtest.Open(b, servers[0], sandboxtest.NewDatabase(b, servers[0], "consolebench"))
	store, err := workflow.NewMySQLStore(b.Context(), db)
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, store)
	// One real review, copied into every ticket.
	var sample console.TicketDetail
	f.call("alice", "POST", "/api/tickets", console.SubmitRequest{Kind: "sql_change", Instance: "test", Database: f.db,
		SQL: "UPDATE orders SET amount = 0 WHERE id = 1;\nUPDATE orders SET status = 'x' WHERE id = 2"}, &sample)
	d, err := f.engine.Get(b.Context(), sample.ID)
	if err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i := range 10_000 {
		tk := d.Ticket.Clone()
		tk.ClientKey, tk.Title = "", fmt.Sprintf("change %d", i)
		tk.Submitter = []string{"alice", "carol", "bob"}[i%3]
		tk.SQL = fmt.Sprintf("UPDATE orders SET amount = %d WHERE id = %d", i, i%20+1)
		if _, _, err := store.Create(b.Context(), tk, base.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct{ name, path string }{
		{"api-list", "/api/tickets"},
		{"api-list-filtered", "/api/tickets?submitter=carol&state=submitted&instance=test"},
		{"api-keyword", "/api/tickets?q=amount+%3D+9999"},
		{"page-list", "/"},
		{"api-detail", fmt.Sprintf("/api/tickets/%d", sample.ID+5000)},
		{"page-detail", fmt.Sprintf("/tickets/%d", sample.ID+5000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				if st := f.call("bob", "GET", c.path, nil, nil); st != http.StatusOK {
					b.Fatalf("%s: %d", c.path, st)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
