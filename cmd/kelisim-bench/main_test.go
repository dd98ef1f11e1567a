package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// A run reports the blocks PostgreSQL read from outside its buffers per
// request: what tells a loaded database's slow page from a slow plan.
// Each request here extends a table by some 20 new blocks (read, in
// PostgreSQL's count) and has its backend report them at once.
func TestMeasureCountsBlocksRead(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stats, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close(ctx)
	work, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer work.Close(ctx)
	if _, err := work.Exec(ctx, `CREATE TABLE grown (n int)`); err != nil {
		t.Fatal(err)
	}
	b := &bench{o: options{duration: 5 * time.Second, maxRequests: 4}, stats: stats}
	r := b.measure(ctx, "grow", 1, func(int, int) (int, bool) {
		if _, err := work.Exec(ctx, `INSERT INTO grown SELECT generate_series(1, 5000)`); err != nil {
			t.Error(err)
			return 0, false
		}
		_, err := work.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
		return 200, err == nil
	})
	if r.Requests != 4 || len(r.Errors) != 0 {
		t.Fatalf("%d requests, errors %v", r.Requests, r.Errors)
	}
	if r.BlocksReadPerReq < 20 {
		t.Errorf("%.1f blocks read a request, want at least the 20 each request added", r.BlocksReadPerReq)
	}
	if row := markdown([]result{r}); !strings.Contains(row, "| PostgreSQL blocks read/req |") ||
		!strings.HasSuffix(strings.TrimSpace(row), "|") || strings.Count(strings.Split(row, "\n")[2], "|") != 18 {
		t.Errorf("markdown:\n%s", row)
	}
}
