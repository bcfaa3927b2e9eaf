package migrate_test

import (
	"testing"

	"github.com/shiftgate/shiftgate/internal/compilecheck"
)

// misuse is a program that gives options to constructors. Each function
// named bad* must fail to type-check with its comment's text; the others
// must type-check.
const misuse = `package misuse

import (
	"log/slog"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

func good() {
	l := slog.Default()
	_, _ = migrate.NewPipe("", "", "db", migrate.WithLogger(l), migrate.WithTables("t"), migrate.WithCharset("utf8mb4"))
	_, _ = migrate.NewCopier("", "", "db", migrate.WithLogger(l), migrate.WithTables("t"), migrate.WithThreads(2))
	_, _ = migrate.NewStatements("", "db", []string{"SELECT 1"}, migrate.WithLogger(l), migrate.WithStatementTimeout(time.Second))
	shared := []migrate.CopyOption{migrate.WithReplace(), migrate.WithTimeouts(0, 0, 0)}
	_, _ = migrate.NewPipe("", "", "db", shared[0], shared[1])
	_, _ = migrate.NewCopier("", "", "db", shared[0], shared[1])
	rows := []migrate.RowsOption{migrate.WithReplace(), migrate.WithProgressInterval(time.Second)}
	_, _ = migrate.NewSplit("", "db", "t", "k", nil, nil, rows[0], rows[1], migrate.WithThreads(2), migrate.WithKeyExpression("k"))
	_, _ = migrate.NewMerge(nil, nil, "", "db", "t", rows[0], rows[1], migrate.WithThreads(2), migrate.WithLogger(l))
}

func badSplitOptionToMerge() { // migrate.SplitOption does not implement migrate.MergeOption
	_, _ = migrate.NewMerge(nil, nil, "", "db", "t", migrate.WithKeyExpression("k"))
}

func badCopyOptionToMerge() { // migrate.CopyOption does not implement migrate.MergeOption
	_, _ = migrate.NewMerge(nil, nil, "", "db", "t", migrate.WithTables("t"))
}

func badCopierOptionToPipe() { // migrate.ChunkOption does not implement migrate.PipeOption
	_, _ = migrate.NewPipe("", "", "db", migrate.WithThreads(2))
}

func badPipeOptionToCopier() { // migrate.PipeOption does not implement migrate.CopierOption
	_, _ = migrate.NewCopier("", "", "db", migrate.WithCharset("utf8mb4"))
}

func badCopyOptionToStatements() { // migrate.CopyOption does not implement migrate.StatementsOption
	_, _ = migrate.NewStatements("", "db", nil, migrate.WithTables("t"))
}

func badStatementsOptionToCopier() { // migrate.StatementsOption does not implement migrate.CopierOption
	_, _ = migrate.NewCopier("", "", "db", migrate.WithStatementTimeout(time.Second))
}

func badCopierOptionsToPipe(opts []migrate.CopierOption) { // cannot use opts
	_, _ = migrate.NewPipe("", "", "db", opts...)
}
`

// TestOptionsMisappliedDoNotCompile type-checks misuse: an option given to
// a constructor it does not apply to is a compile error, not a run-time
// one.
func TestOptionsMisappliedDoNotCompile(t *testing.T) {
	compilecheck.Expect(t, misuse)
}
