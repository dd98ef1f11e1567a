package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kelisim/kelisim/partners"
)

const partnerColumns = `id, registration, status, version, secret_hash, previous_secret_hash,
	previous_secret_expires_at, created_at, updated_at, epoch`

func scanPartner(row pgx.Row) (partners.Partner, error) {
	var r partnerRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return partners.Partner{}, partners.ErrNotFound
	}
	if err != nil {
		return partners.Partner{}, translate(err)
	}
	p, err := r.partner()
	if err != nil {
		return partners.Partner{}, err
	}
	return *p, nil
}

// partnerRow receives partnerColumns, every one nullable so that an outer
// join can read them too, in pgtype's nullable types (see grantRow).
type partnerRow struct {
	id, status                pgtype.Text
	reg, secret, prevSecret   []byte
	version, epoch            pgtype.Int8
	prevExp, created, updated pgtype.Timestamptz
}

func (r *partnerRow) dest() []any {
	return []any{&r.id, &r.reg, &r.status, &r.version, &r.secret, &r.prevSecret, &r.prevExp, &r.created, &r.updated, &r.epoch}
}

// partner is nil when the row held no partner (an outer join's miss).
func (r *partnerRow) partner() (*partners.Partner, error) {
	return r.partnerUsing(nil)
}

// partnerUsing is partner, taking the registration from regs when it
// holds these very bytes decoded (regs may be nil).
func (r *partnerRow) partnerUsing(regs *registrations) (*partners.Partner, error) {
	if !r.id.Valid {
		return nil, nil
	}
	p := partners.Partner{ID: r.id.String, Status: partners.Status(r.status.String), Version: int(r.version.Int64), Epoch: int(r.epoch.Int64),
		SecretHash: r.secret, PreviousSecretHash: r.prevSecret, CreatedAt: r.created.Time, UpdatedAt: r.updated.Time,
		PreviousSecretExpiresAt: r.prevExp.Time}
	if reg, ok := regs.get(p.ID, r.reg); ok {
		p.Registration = reg
		p = p.Clone() // its slices the caller's own
		return &p, nil
	}
	if err := json.Unmarshal(r.reg, &p.Registration); err != nil {
		return nil, fmt.Errorf("decode partner %s: %w", p.ID, err)
	}
	regs.keep(p.ID, r.reg, p.Clone().Registration)
	return &p, nil
}

// registrations keeps each partner's registration as decoded, by id.
// Every use of a token reads its partner with it (GetToken), and decoding
// the same JSON again was a few percent of a document fetch. An entry
// answers only for the very bytes the row holds, so a changed partner is
// decoded again; it holds nothing a replica must share. Bounded: full,
// it starts over.
type registrations struct {
	mu sync.Mutex
	m  map[string]decodedRegistration
}

type decodedRegistration struct {
	raw []byte
	reg partners.Registration
}

const registrationsMax = 10_000

func (r *registrations) get(id string, raw []byte) (partners.Registration, bool) {
	if r == nil {
		return partners.Registration{}, false
	}
	r.mu.Lock()
	e, ok := r.m[id]
	r.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return partners.Registration{}, false
	}
	return e.reg, true
}

func (r *registrations) keep(id string, raw []byte, reg partners.Registration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= registrationsMax {
		r.m = make(map[string]decodedRegistration)
	}
	r.m[id] = decodedRegistration{raw: bytes.Clone(raw), reg: reg}
}

// CreatePartner implements partners.Store.
func (s *Store) CreatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	reg, err := json.Marshal(p.Registration)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `
			INSERT INTO partners (`+partnerColumns+`)
			VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.ID, string(reg), p.Status, p.Version, p.SecretHash, p.PreviousSecretHash,
			nullTime(p.PreviousSecretExpiresAt), p.CreatedAt, p.UpdatedAt, p.Epoch)
		if err != nil {
			return translate(err)
		}
		return insertAudit(ctx, q, e)
	})
}

// notifyPartner tells every replica's cache, when the transaction
// commits, that partner id changed.
func notifyPartner(ctx context.Context, q querier, id string) error {
	_, err := q.Exec(ctx, `SELECT pg_notify('`+partnersChannel+`', $1)`, id)
	return translate(err)
}

// evictPartner drops partner id from this replica's cache at once; the
// others hear it from the notification.
func (s *Store) evictPartner(id string) {
	if s.partners != nil {
		s.partners.evict(id)
	}
}

// GetPartner implements partners.Store.
// Under a context made by partners.Fresh or partners.Once it reads each
// partner once (under Once, one a cache served the context is not read).
func (s *Store) GetPartner(ctx context.Context, id string) (partners.Partner, error) {
	return partners.ReadOnce(ctx, id, func() (partners.Partner, error) {
		return scanPartner(s.q(ctx).QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, id))
	})
}

// ListPartners implements partners.Store.
func (s *Store) ListPartners(ctx context.Context) ([]partners.Partner, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []partners.Partner{}
	for rows.Next() {
		p, err := scanPartner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// UpdatePartner implements partners.Store.
func (s *Store) UpdatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	reg, err := json.Marshal(p.Registration)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `
			UPDATE partners SET registration = $2::jsonb, status = $3, version = version + 1,
				secret_hash = $4, previous_secret_hash = $5, previous_secret_expires_at = $6, updated_at = $7, epoch = $9
			WHERE id = $1 AND version = $8`,
			p.ID, string(reg), p.Status, p.SecretHash, p.PreviousSecretHash,
			nullTime(p.PreviousSecretExpiresAt), p.UpdatedAt, p.Version, p.Epoch)
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)`, p.ID).Scan(&exists); err != nil {
				return translate(err)
			}
			if !exists {
				return partners.ErrNotFound
			}
			return partners.ErrConflict
		}
		if err := notifyPartner(ctx, q, p.ID); err != nil {
			return err
		}
		return insertAudit(ctx, q, e)
	})
	s.evictPartner(p.ID)
	return err
}

// ListAudit implements partners.Store.
func (s *Store) ListAudit(ctx context.Context, partnerID string, limit int) ([]partners.AuditEntry, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT id, at, actor, action, partner_id, subject, before, after FROM audit_log
		WHERE $1 = '' OR partner_id = $1 ORDER BY id DESC LIMIT $2`, partnerID, limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (partners.AuditEntry, error) {
		var e partners.AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.PartnerID, &e.Subject, &e.Before, &e.After)
		return e, err
	})
}

// AppendAudit implements partners.Store.
func (s *Store) AppendAudit(ctx context.Context, e partners.AuditEntry) error {
	return insertAudit(ctx, s.q(ctx), e)
}

func insertAudit(ctx context.Context, q querier, e partners.AuditEntry) error {
	_, err := q.Exec(ctx, `
		INSERT INTO audit_log (at, actor, action, partner_id, subject, before, after)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)`,
		e.At, e.Actor, e.Action, e.PartnerID, e.Subject, nullJSON(e.Before), nullJSON(e.After))
	return translate(err)
}
