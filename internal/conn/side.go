package conn

// Side names one end of a copy or a comparison. migrate.Side and
// verify.Side are this type, so one value works with both packages.
type Side string

// The two ends of a copy or a comparison.
const (
	Source Side = "source"
	Target Side = "target"
)
