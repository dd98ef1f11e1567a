package postgres

import "testing"

// A statement is named by its verb and the first table it names; the
// unnest of a batch's keys is not a table.
func TestOperationNames(t *testing.T) {
	for _, c := range []struct{ sql, want string }{
		{tokenQuery, "select oauth_records"},
		{tokensQuery, "select oauth_records"},
		{`INSERT INTO access_events (at) SELECT * FROM unnest($1::timestamptz[])`, "insert access_events"},
		{`UPDATE grants SET status = $2 WHERE id = $1`, "update grants"},
		{`SELECT 1`, "select"},
	} {
		if got := new(tracer).operation(c.sql); got != c.want {
			t.Errorf("%.60q is named %q, want %q", c.sql, got, c.want)
		}
	}
}
