package httpapi

// ErrorRow is one row of errorOutcomes, as the table's walk test
// (errors_test.go) reads it. Err is nil for internalError.
type ErrorRow struct {
	Err                                          error
	Status, PageStatus                           int
	Reason, Outcome, CallbackOutcome, RetryAfter string
	HasPage                                      bool
}

// ErrorRows are errorOutcomes and internalError.
func ErrorRows() []ErrorRow {
	var rows []ErrorRow
	for _, o := range append(errorOutcomes[:len(errorOutcomes):len(errorOutcomes)], internalError) {
		rows = append(rows, ErrorRow{Err: o.err, Status: o.status, PageStatus: o.statusForPage(), Reason: o.reason,
			Outcome: o.outcome, CallbackOutcome: o.callbackOutcome, RetryAfter: o.retryAfter, HasPage: o.pageTitle != ""})
	}
	return rows
}

// The request's own errors, by which the walk test names their rows.
var (
	ErrInvalid          = errInvalid
	ErrTooLarge         = errTooLarge
	ErrURITooLong       = errURITooLong
	ErrUnsupportedMedia = errUnsupportedMedia
	ErrTokenMissing     = errTokenMissing
	ErrTokenInvalid     = errTokenInvalid
	ErrRateLimited      = errRateLimited
	ErrNoRoute          = errNoRoute
	ErrMethodNotAllowed = errMethodNotAllowed
	ErrLinkUnknown      = errLinkUnknown
	ErrLinkElsewhere    = errLinkElsewhere
	ErrLinkCrossSite    = errLinkCrossSite
)
