package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tables kept by month: a partition per month of `at`, named
// <table>_pYYYY_MM. There is no default partition (a row of a month not
// made ready is refused): with one, PostgreSQL could not read the months
// in order and stop at the first that answers (a grant's last use).
var monthly = []string{"access_events", "audit_log"}

// partitionLockTimeout bounds the wait for the lock that making a month
// takes (dropping one takes none that requests wait for): a long-running
// maintenance of the table makes the upkeep give up and try again next
// round instead of waiting.
const partitionLockTimeout = time.Second

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(table string, month time.Time) string {
	return fmt.Sprintf("%s_p%04d_%02d", table, month.Year(), int(month.Month()))
}

// PrepareMonths implements consent.Janitor: the partitions of the months
// from now's to ahead months after it, each created unless there.
func (s *Store) PrepareMonths(ctx context.Context, now time.Time, ahead int) ([]string, error) {
	return s.EnsureMonths(ctx, now, monthStart(now).AddDate(0, ahead, 0))
}

// EnsureMonths creates the monthly partitions from from's month to to's,
// those not there yet, and returns their names. A loader calls it before
// writing rows of past months.
func (s *Store) EnsureMonths(ctx context.Context, from, to time.Time) ([]string, error) {
	var created []string
	for m := monthStart(from); !m.After(to); m = m.AddDate(0, 1, 0) {
		for _, table := range monthly {
			name := partitionName(table, m)
			var exists bool
			if err := s.q(ctx).QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
				return created, translate(err)
			}
			if exists {
				continue
			}
			made, err := s.createMonth(ctx, table, name, m)
			if err != nil {
				return created, fmt.Errorf("partition %s: %w", name, err)
			}
			if made {
				created = append(created, name)
			}
		}
	}
	return created, nil
}

// createMonth attaches a new partition for month. Attaching takes a
// weaker lock on the table than creating a partition of it would: reads
// and writes go on.
func (s *Store) createMonth(ctx context.Context, table, name string, month time.Time) (bool, error) {
	made := false
	err := s.inTx(ctx, func(q querier) error {
		made = false
		if _, err := q.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, partitionLockTimeout.Milliseconds())); err != nil {
			return translate(err)
		}
		// Replicas' upkeeps: one creates, the others wait for it and find
		// the month made. The lock is the one attaching takes anyway: it
		// lets reads and writes of the table go on. Taking it reads the
		// catalog afresh, so the check below sees what the other made.
		if _, err := q.Exec(ctx, `LOCK TABLE ONLY `+pgx.Identifier{table}.Sanitize()+` IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
			return translate(err)
		}
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace)`,
			name).Scan(&exists); err != nil || exists {
			return translate(err)
		}
		id, parent := pgx.Identifier{name}.Sanitize(), pgx.Identifier{table}.Sanitize()
		for _, sql := range []string{
			fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`, id, parent),
			fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`, parent, id,
				month.Format(time.RFC3339), month.AddDate(0, 1, 0).Format(time.RFC3339)),
		} {
			if _, err := q.Exec(ctx, sql); err != nil {
				return translate(err)
			}
		}
		made = true
		return nil
	})
	return made, err
}

// DropMonths implements consent.Janitor: the months that ended before
// before are dropped whole, the history's and the audit log's. The
// history's leaves stay in the log; the cut is recorded first, so the
// ledger knows that events before it are gone by retention, not by
// tampering. A month is detached CONCURRENTLY, which never blocks the
// table's reads and writes (a detach cut short is finished on a later
// round), then dropped on its own.
func (s *Store) DropMonths(ctx context.Context, before time.Time) ([]string, error) {
	// Every table named as a month of ours: attached, being detached, or
	// detached by a round cut short before its drop.
	rows, err := s.q(ctx).Query(ctx, `SELECT c.relname::text, i.inhdetachpending, p.relname::text FROM pg_class c
		LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
		WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
			AND c.relname ~ ('^(' || array_to_string($1::text[], '|') || ')_p[0-9]{4}_[0-9]{2}$')`, monthly)
	if err != nil {
		return nil, translate(err)
	}
	type part struct {
		name, table, parent string
		pending             bool
		end                 time.Time
	}
	var old []part
	for rows.Next() {
		var name string
		var pending *bool
		var parent *string
		if err := rows.Scan(&name, &pending, &parent); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		for _, table := range monthly {
			month, err := time.Parse("2006_01", strings.TrimPrefix(name, table+"_p"))
			if err != nil || name != partitionName(table, month) {
				continue
			}
			p := part{name: name, table: table, end: month.AddDate(0, 1, 0)}
			if parent != nil {
				p.parent, p.pending = *parent, pending != nil && *pending
			}
			if !p.end.After(before) {
				old = append(old, p)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	// Oldest first; of one month, the history's before the audit log's.
	sort.Slice(old, func(i, j int) bool {
		if !old[i].end.Equal(old[j].end) {
			return old[i].end.Before(old[j].end)
		}
		return old[i].table < old[j].table
	})
	var dropped []string
	for _, p := range old {
		if err := s.dropMonth(ctx, p.name, p.table, p.parent, p.pending, p.end); err != nil {
			return dropped, fmt.Errorf("partition %s: %w", p.name, err)
		}
		dropped = append(dropped, p.name)
	}
	return dropped, nil
}

func (s *Store) dropMonth(ctx context.Context, name, table, parent string, pending bool, end time.Time) error {
	if table == "access_events" {
		err := s.inTx(ctx, func(q querier) error {
			if _, err := q.Exec(ctx, `INSERT INTO history_retention (dropped_before) VALUES ($1)
				ON CONFLICT (one) DO UPDATE SET dropped_before = greatest(history_retention.dropped_before, excluded.dropped_before)`, end); err != nil {
				return translate(err)
			}
			// An event never sealed (none should be, years on) leaves the queue with its month.
			_, err := q.Exec(ctx, `DELETE FROM history_unsealed WHERE at < $1`, end)
			return translate(err)
		})
		if err != nil {
			return err
		}
	}
	id := pgx.Identifier{name}.Sanitize()
	switch {
	case parent != "" && pending:
		if _, err := s.q(ctx).Exec(ctx, `ALTER TABLE `+pgx.Identifier{parent}.Sanitize()+` DETACH PARTITION `+id+` FINALIZE`); err != nil {
			return translate(err)
		}
	case parent != "":
		if _, err := s.q(ctx).Exec(ctx, `ALTER TABLE `+pgx.Identifier{parent}.Sanitize()+` DETACH PARTITION `+id+` CONCURRENTLY`); err != nil {
			return translate(err)
		}
	}
	_, err := s.q(ctx).Exec(ctx, `DROP TABLE `+id)
	return translate(err)
}

// DroppedBefore implements consent.LedgerStore.
func (s *Store) DroppedBefore(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.q(ctx).QueryRow(ctx, `SELECT dropped_before FROM history_retention`).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return t, translate(err)
}
