package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

var _ consent.LedgerStore = (*Store)(nil)

// SealRound implements consent.LedgerStore: a transaction holding an
// advisory lock, taken without waiting. The lock is the database's and
// the history its schema's, so the lock is keyed by the schema: gateways
// whose tables live in different schemas of one database (as the tests'
// do) seal their own histories without skipping each other's rounds.
func (s *Store) SealRound(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	tx, err := s.BeginTx(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = s.Rollback(tx) }()
	var got bool
	if err := s.q(tx).QueryRow(tx, `SELECT pg_try_advisory_xact_lock(hashtextextended('kelisim history seal ' || current_schema(), 0))`).Scan(&got); err != nil {
		return false, translate(err)
	}
	if !got {
		return false, nil
	}
	if err := fn(tx); err != nil {
		return true, err
	}
	return true, s.Commit(tx)
}

const checkpointColumns = `tree_size, root_hash, created_at, signed`

func scanCheckpoint(row pgx.CollectableRow) (consent.Checkpoint, error) {
	var cp consent.Checkpoint
	err := row.Scan(&cp.Size, &cp.Root, &cp.At, &cp.Signed)
	return cp, err
}

func (s *Store) checkpoints(ctx context.Context, sql string, args ...any) ([]consent.Checkpoint, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+checkpointColumns+` FROM history_checkpoints `+sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanCheckpoint)
	return out, translate(err)
}

func (s *Store) oneCheckpoint(ctx context.Context, sql string, args ...any) (consent.Checkpoint, error) {
	out, err := s.checkpoints(ctx, sql, args...)
	if err != nil {
		return consent.Checkpoint{}, err
	}
	if len(out) == 0 {
		return consent.Checkpoint{}, consent.ErrNoCheckpoint
	}
	return out[0], nil
}

// LatestCheckpoint implements consent.LedgerStore.
func (s *Store) LatestCheckpoint(ctx context.Context) (consent.Checkpoint, error) {
	return s.oneCheckpoint(ctx, `ORDER BY tree_size DESC LIMIT 1`)
}

// Checkpoint implements consent.LedgerStore.
func (s *Store) Checkpoint(ctx context.Context, size int64) (consent.Checkpoint, error) {
	return s.oneCheckpoint(ctx, `WHERE tree_size = $1`, size)
}

// Checkpoints implements consent.LedgerStore.
func (s *Store) Checkpoints(ctx context.Context, limit int) ([]consent.Checkpoint, error) {
	return s.checkpoints(ctx, `ORDER BY tree_size DESC LIMIT $1`, limit)
}

// SaveCheckpoint implements consent.LedgerStore.
func (s *Store) SaveCheckpoint(ctx context.Context, cp consent.Checkpoint) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO history_checkpoints (tree_size, root_hash, signed, created_at) VALUES ($1, $2, $3, $4)`,
		cp.Size, cp.Root, cp.Signed, cp.At)
	return translate(err)
}

// Unsealed implements consent.LedgerStore: the sealer's queue, each
// event read by its key in its month (LIMIT keeps the planner from
// hashing every month's rows instead).
func (s *Store) Unsealed(ctx context.Context, before time.Time, limit int) ([]consent.AccessEvent, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT u.id, `+prefixed("e", accessColumns)+`
		FROM (SELECT id, at FROM history_unsealed WHERE at < $1 ORDER BY id LIMIT $2) u
		LEFT JOIN LATERAL (SELECT * FROM access_events e WHERE e.id = u.id AND e.at = u.at LIMIT 1) e ON true
		ORDER BY u.id`, before, limit)
	if err != nil {
		return nil, translate(err)
	}
	var out []consent.AccessEvent
	var gone []int64
	for rows.Next() {
		var queued int64
		var id *int64
		var at *time.Time
		var e consent.AccessEvent
		var cols eventColumns
		if err := rows.Scan(append([]any{&queued, &id, &at}, cols.targets(&e)...)...); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		if id == nil {
			gone = append(gone, queued)
			continue
		}
		e.ID, e.At = *id, *at
		cols.fill(&e)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	if len(gone) > 0 {
		// Written and gone before its seal: nothing legitimate deletes a
		// row that young.
		return nil, fmt.Errorf("%w: %d events were deleted before they were sealed (the first: event %d)", consent.ErrTampered, len(gone), gone[0])
	}
	return out, nil
}

// prefixed qualifies each of columns with the table alias.
func prefixed(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// SealEvents implements consent.LedgerStore: the leaves are appended and
// the events leave the queue, in one statement; the history rows are not
// written again.
func (s *Store) SealEvents(ctx context.Context, seals map[int64]consent.Seal) error {
	ids, idx, chains, hashes := make([]int64, 0, len(seals)), make([]int64, 0, len(seals)), make([]string, 0, len(seals)), make([][]byte, 0, len(seals))
	for id, seal := range seals {
		ids, idx, chains, hashes = append(ids, id), append(idx, seal.Index), append(chains, seal.Chain), append(hashes, seal.Hash)
	}
	tag, err := s.q(ctx).Exec(ctx, `WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[]) AS v(id, idx, chain, hash)),
		d AS (DELETE FROM history_unsealed u USING v WHERE u.id = v.id RETURNING u.id, u.at)
		INSERT INTO history_leaves (leaf_index, event_id, at, chain, leaf_hash)
		SELECT v.idx, v.id, d.at, v.chain, v.hash FROM v JOIN d ON d.id = v.id`,
		ids, idx, chains, hashes)
	if err != nil {
		return translate(err)
	}
	if n := tag.RowsAffected(); n != int64(len(seals)) {
		return fmt.Errorf("postgres: sealed %d of %d events: the others are not in the queue", n, len(seals))
	}
	return nil
}

// The leaves with their events; a leaf whose event's month was dropped
// comes alone (no event id), its seal marked Dropped.
const sealedColumns = `l.event_id, l.at, e.citizen, e.holder, e.partner_id, e.grant_id, e.document_type, e.kind, e.by_whom, e.detail,
	l.leaf_index, l.chain, l.leaf_hash, e.id IS NULL`

// Each leaf's event is one probe of its month's primary key (LIMIT keeps
// the planner from hashing every month's rows instead).
const sealedFrom = `history_leaves l LEFT JOIN LATERAL (SELECT * FROM access_events e WHERE e.id = l.event_id AND e.at = l.at LIMIT 1) e ON true`

func scanSealed(row pgx.CollectableRow) (consent.AccessEvent, error) {
	var e consent.AccessEvent
	var cols eventColumns
	var seal consent.Seal
	if err := row.Scan(append(append([]any{&e.ID, &e.At}, cols.targets(&e)...), &seal.Index, &seal.Chain, &seal.Hash, &seal.Dropped)...); err != nil {
		return e, err
	}
	if !seal.Dropped {
		cols.fill(&e)
	}
	e.Seal = &seal
	return e, nil
}

// eventColumns are an event's columns after its id and time (as in
// accessColumns) read from an outer join: NULL when the event is gone.
type eventColumns struct{ citizen, holder, partner, grant, doc, kind, by *string }

func (c *eventColumns) targets(e *consent.AccessEvent) []any {
	return []any{&c.citizen, &c.holder, &c.partner, &c.grant, &c.doc, &c.kind, &c.by, &e.Grant}
}

// fill sets e's columns; the event must have been there.
func (c *eventColumns) fill(e *consent.AccessEvent) {
	e.Citizen, e.Holder, e.PartnerID, e.GrantID, e.Document, e.Kind, e.By =
		consent.IIN(*c.citizen), consent.IIN(*c.holder), *c.partner, *c.grant, consent.DocumentType(*c.doc), *c.kind, *c.by
}

func (s *Store) sealed(ctx context.Context, where string, args ...any) ([]consent.AccessEvent, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+sealedColumns+` FROM `+sealedFrom+` WHERE `+where+` ORDER BY l.leaf_index`, args...)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanSealed)
	return out, translate(err)
}

// Sealed implements consent.LedgerStore.
func (s *Store) Sealed(ctx context.Context, from, to int64) ([]consent.AccessEvent, error) {
	return s.sealed(ctx, `l.leaf_index >= $1 AND l.leaf_index < $2`, from, to)
}

// ChainEvents implements consent.LedgerStore.
func (s *Store) ChainEvents(ctx context.Context, chain string) ([]consent.AccessEvent, error) {
	return s.sealed(ctx, `l.chain = $1`, chain)
}

// ChainHeads implements consent.LedgerStore: one index probe per chain,
// in one statement.
func (s *Store) ChainHeads(ctx context.Context, chains []string, before int64) (map[string][]byte, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT c.chain, h.leaf_hash FROM unnest($1::text[]) AS c(chain)
		CROSS JOIN LATERAL (SELECT leaf_hash FROM history_leaves l WHERE l.chain = c.chain AND l.leaf_index < $2
			ORDER BY l.leaf_index DESC LIMIT 1) h`, chains, before)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var c string
		var h []byte
		if err := rows.Scan(&c, &h); err != nil {
			return nil, translate(err)
		}
		out[c] = h
	}
	return out, translate(rows.Err())
}

// NodesWithin implements consent.LedgerStore.
func (s *Store) NodesWithin(ctx context.Context, from, to int64) (map[merkle.ID][]byte, error) {
	// Per level, the subtrees from ⌈from/2^level⌉ to ⌊to/2^level⌋-1: one
	// index range each. OFFSET 0 keeps each level's range a subquery of
	// its own, run per level with its bounds: joined instead, the planner
	// hashed the levels and read every subtree the log holds.
	rows, err := s.q(ctx).Query(ctx, `SELECT n.level, n.idx, n.hash
		FROM generate_series(1, 62) AS l(level)
		CROSS JOIN LATERAL (SELECT level, idx, hash FROM history_nodes
			WHERE level = l.level AND idx >= (($1::bigint + (1::bigint << l.level) - 1) >> l.level) AND idx < ($2::bigint >> l.level)
			OFFSET 0) n
		WHERE (1::bigint << l.level) <= $2::bigint - $1::bigint`, from, to)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[merkle.ID][]byte{}
	for rows.Next() {
		var level int16
		var idx int64
		var h []byte
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return nil, translate(err)
		}
		out[merkle.ID{Level: uint8(level), Index: idx}] = h
	}
	return out, translate(rows.Err())
}

// PutNodes implements consent.LedgerStore.
func (s *Store) PutNodes(ctx context.Context, nodes map[merkle.ID][]byte) error {
	levels, idx, hashes := make([]int16, 0, len(nodes)), make([]int64, 0, len(nodes)), make([][]byte, 0, len(nodes))
	for id, h := range nodes {
		levels, idx, hashes = append(levels, int16(id.Level)), append(idx, id.Index), append(hashes, h)
	}
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO history_nodes (level, idx, hash)
		SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`, levels, idx, hashes)
	return translate(err)
}

// Node implements consent.LedgerStore.
func (s *Store) Node(ctx context.Context, id merkle.ID) ([]byte, error) {
	var h []byte
	var err error
	if id.Level == 0 {
		err = s.q(ctx).QueryRow(ctx, `SELECT leaf_hash FROM history_leaves WHERE leaf_index = $1`, id.Index).Scan(&h)
	} else {
		err = s.q(ctx).QueryRow(ctx, `SELECT hash FROM history_nodes WHERE level = $1 AND idx = $2`, int16(id.Level), id.Index).Scan(&h)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, merkle.ErrMissing
	}
	return h, translate(err)
}
