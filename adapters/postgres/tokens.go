package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/oauth"
)

// tokenColumns are what a token's read returns: its record, its partner
// and its grant (every request with a token needs all three).
var tokenColumns = `r.request_id, r.client_id, r.grant_id, r.active, r.expires_at, r.request, r.partner_epoch, ` +
	qualify("p", partnerColumns) + `, ` + qualify("g", grantColumns) + `
	FROM oauth_records r
	LEFT JOIN partners p ON p.id = r.client_id
	LEFT JOIN grants g ON g.id = r.grant_id`

// tokenQuery reads one token, inside a transaction.
var tokenQuery = `SELECT ` + tokenColumns + `
	WHERE r.kind = $1 AND r.signature = $2`

// tokensQuery reads a batch of tokens: kinds $1 and signatures $2, each
// row led by its token's place in them (from 1); a token not found has
// no row. Each is read in a subquery of its own by the primary key, as
// tokenQuery reads one: OFFSET 0 keeps the planner from making the batch
// a join, whose plan would follow the batch's size (on an empty table a
// generic plan made then is checked in explain_test.go).
var tokensQuery = `SELECT s.i, t.* FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(kind, signature, i),
	LATERAL (SELECT ` + tokenColumns + `
	WHERE r.kind = s.kind AND r.signature = s.signature OFFSET 0) t`

// GetToken implements oauth.Store. Outside a transaction the read joins
// the next batch of token reads: every request to a resource endpoint
// reads its token first, and under load one statement for the tokens of
// many requests costs PostgreSQL and the gateway a fraction of one each
// (a round trip's writes and wake-ups). A lone read is sent at once. The
// batch's statement is not the request's: it is counted and traced on
// its own, as the batched writes are. The row is decoded by its caller.
func (s *Store) GetToken(ctx context.Context, kind oauth.Kind, signature string) (oauth.TokenRecord, error) {
	if !s.inTxContext(ctx) {
		l := &tokenRead{kind: kind, signature: signature}
		if err := s.tokens.do(ctx, l); err != nil {
			return oauth.TokenRecord{}, err
		}
		if !l.found {
			return oauth.TokenRecord{}, oauth.ErrNotFound
		}
		return s.tokenOf(kind, signature, &l.row)
	}
	return s.readToken(ctx, kind, signature)
}

// readToken reads one token with its own statement.
func (s *Store) readToken(ctx context.Context, kind oauth.Kind, signature string) (oauth.TokenRecord, error) {
	var row tokenRow
	err := s.q(ctx).QueryRow(ctx, tokenQuery, kind, signature).Scan(row.dest(nil)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.TokenRecord{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.TokenRecord{}, translate(err)
	}
	return s.tokenOf(kind, signature, &row)
}

// tokenRead is one GetToken waiting in a batch: its row, when found.
type tokenRead struct {
	kind      oauth.Kind
	signature string
	row       tokenRow
	found     bool
}

// readTokens reads a batch of tokens in one statement. A row that cannot
// be scanned fails the batch's statement; then each token is read in a
// statement of its own, so that such a row fails only its own caller.
func (s *Store) readTokens(ctx context.Context, reads []*tokenRead) []error {
	errs := make([]error, len(reads))
	err := s.scanTokens(ctx, reads)
	switch {
	case err == nil:
	case unavailable(err) || len(reads) == 1:
		for i := range errs {
			errs[i] = translate(err)
		}
	default:
		for i, l := range reads {
			l.found = false
			if err := s.scanTokens(ctx, reads[i:i+1]); err != nil {
				errs[i] = translate(err)
			}
		}
	}
	return errs
}

// scanTokens sends tokensQuery for reads and puts each row in its read.
func (s *Store) scanTokens(ctx context.Context, reads []*tokenRead) error {
	kinds, sigs := make([]string, len(reads)), make([]string, len(reads))
	for i, l := range reads {
		kinds[i], sigs[i] = string(l.kind), l.signature
	}
	rows, err := s.q(ctx).Query(ctx, tokensQuery, kinds, sigs)
	if err != nil {
		return err
	}
	defer rows.Close()
	var i int64
	var row tokenRow
	dest := row.dest(&i)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if i < 1 || int(i) > len(reads) {
			return errors.New("postgres: a token read answered for no token asked")
		}
		// Every value scanned is the row's own (pgx allocates each slice
		// and pointer it fills), so the copy shares nothing with the next.
		reads[i-1].row, reads[i-1].found = row, true
		row = tokenRow{}
	}
	return rows.Err()
}

// tokenRow is a token's row as read, before it is decoded.
type tokenRow struct {
	t       oauth.TokenRecord
	grantID *string
	p       partnerRow
	g       grantRow
}

// dest is where a row of tokenColumns is scanned, led by lead when set.
func (r *tokenRow) dest(lead any) []any {
	dest := make([]any, 0, 32)
	if lead != nil {
		dest = append(dest, lead)
	}
	dest = append(dest, &r.t.RequestID, &r.t.ClientID, &r.grantID, &r.t.Active, &r.t.ExpiresAt, &r.t.Request, &r.t.PartnerEpoch)
	return append(append(dest, r.p.dest()...), r.g.dest()...)
}

// tokenOf decodes a token's row.
func (s *Store) tokenOf(kind oauth.Kind, signature string, r *tokenRow) (oauth.TokenRecord, error) {
	t := r.t
	t.Kind, t.Signature = kind, signature
	if r.grantID != nil {
		t.GrantID = *r.grantID
	}
	var err error
	if t.Partner, err = r.p.partnerUsing(&s.registrations); err != nil {
		return oauth.TokenRecord{}, err
	}
	t.Grant = r.g.grant()
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
