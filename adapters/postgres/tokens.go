package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/oauth"
)

// tokenQuery reads a token's record, its partner and its grant in one
// statement: every request with a token needs all three.
var tokenQuery = `SELECT r.request_id, r.client_id, r.grant_id, r.active, r.expires_at, r.request, r.partner_epoch, ` +
	qualify("p", partnerColumns) + `, ` + qualify("g", grantColumns) + `
	FROM oauth_records r
	LEFT JOIN partners p ON p.id = r.client_id
	LEFT JOIN grants g ON g.id = r.grant_id
	WHERE r.kind = $1 AND r.signature = $2`

// GetToken implements oauth.Store.
func (s *Store) GetToken(ctx context.Context, kind oauth.Kind, signature string) (oauth.TokenRecord, error) {
	t := oauth.TokenRecord{Record: oauth.Record{Kind: kind, Signature: signature}}
	var grantID *string
	var p partnerRow
	var g grantRow
	dest := append([]any{&t.RequestID, &t.ClientID, &grantID, &t.Active, &t.ExpiresAt, &t.Request, &t.PartnerEpoch}, p.dest()...)
	err := s.q(ctx).QueryRow(ctx, tokenQuery, kind, signature).Scan(append(dest, g.dest()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.TokenRecord{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.TokenRecord{}, translate(err)
	}
	if grantID != nil {
		t.GrantID = *grantID
	}
	if t.Partner, err = p.partnerUsing(&s.registrations); err != nil {
		return oauth.TokenRecord{}, err
	}
	t.Grant = g.grant()
	return t, nil
}

// qualify prefixes each of a comma-separated column list with alias.
func qualify(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
