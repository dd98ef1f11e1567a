package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The receipts part: every event of a grant's life (given, merged into,
// replaced, revoked, expired) has a consent receipt, after ISO/IEC TS
// 27560 and the Kantara consent receipt: what was agreed, between whom,
// under which terms, collected how, and which receipt it follows. It is a
// JWS signed with a key of the gateway's JWKS. The citizen's copy names
// the citizen; the partner's knows them by its pairwise subject only.

// TypeReceipt is the JWS typ of a consent receipt.
const TypeReceipt = "kelisim-receipt+jwt"

// ReceiptVersion names the receipt's format.
const ReceiptVersion = "kelisim-receipt/1"

// AudienceCitizen is the aud of the citizen's copy of a receipt.
const AudienceCitizen = "citizen"

// ReceiptStore is what receipts need of the store.
type ReceiptStore interface {
	GrantGetter
	// GrantHistory returns the lifecycle events of grant id, oldest first.
	GrantHistory(ctx context.Context, grantID string) ([]AccessEvent, error)
	// ReceiptEvent returns the lifecycle event whose receipt id is id, or
	// ErrReceiptNotFound.
	ReceiptEvent(ctx context.Context, id string) (AccessEvent, error)
}

// ErrReceiptNotFound: no receipt with that id.
var ErrReceiptNotFound = newError(KindNotFound, "", "no receipt with that id")

// ReceiptsConfig is what Receipts are built from.
type ReceiptsConfig struct {
	Store    ReceiptStore
	Partners Partners
	Signer   Signer
	Pairwise func(clientID, citizen string) string
	Issuer   string
	// Jurisdiction is where consents are given, as an ISO 3166 code.
	Jurisdiction string
}

// Receipts signs consent receipts.
type Receipts struct{ cfg ReceiptsConfig }

// NewReceipts checks cfg and returns the receipts part.
func NewReceipts(cfg ReceiptsConfig) (*Receipts, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Partners": cfg.Partners == nil, "Signer": cfg.Signer == nil,
		"Pairwise": cfg.Pairwise == nil, "Issuer": cfg.Issuer == "", "Jurisdiction": cfg.Jurisdiction == ""}); err != nil {
		return nil, fmt.Errorf("consent.NewReceipts: %w", err)
	}
	return &Receipts{cfg: cfg}, nil
}

// ForCitizen returns the citizen's copy of the latest receipt of their
// grant id; ErrGrantNotFound when the grant is not theirs.
func (r *Receipts) ForCitizen(ctx context.Context, citizen IIN, id string) (string, error) {
	g, err := r.cfg.Store.GetGrant(ctx, id)
	if err == nil && g.Citizen != citizen {
		err = ErrGrantNotFound
	}
	if err != nil {
		return "", err
	}
	return r.latest(ctx, g, true)
}

// ForPartner returns the partner's copy of the latest receipt of grant id;
// ErrNotYourGrant when the partner does not hold it.
func (r *Receipts) ForPartner(ctx context.Context, partner, id string) (string, error) {
	g, err := r.cfg.Store.GetGrant(ctx, id)
	if errors.Is(err, ErrGrantNotFound) || (err == nil && g.PartnerID != partner) {
		return "", ErrNotYourGrant
	}
	if err != nil {
		return "", err
	}
	return r.latest(ctx, g, false)
}

// ReceiptStatus says whether a receipt still describes its grant.
type ReceiptStatus struct {
	Status       string `json:"status"` // current or superseded
	SupersededBy string `json:"superseded_by,omitempty"`
}

// Status says whether receipt id is the latest of its grant, or which
// receipt followed it. It tells nothing else of the grant.
func (r *Receipts) Status(ctx context.Context, id string) (ReceiptStatus, error) {
	e, err := r.cfg.Store.ReceiptEvent(ctx, id)
	if err != nil {
		return ReceiptStatus{}, err
	}
	events, err := r.cfg.Store.GrantHistory(ctx, e.GrantID)
	if err != nil {
		return ReceiptStatus{}, err
	}
	for i, ev := range events {
		if ev.Grant != nil && ev.Grant.Receipt == id && i+1 < len(events) {
			return ReceiptStatus{Status: "superseded", SupersededBy: events[i+1].Grant.Receipt}, nil
		}
	}
	return ReceiptStatus{Status: "current"}, nil
}

func (r *Receipts) latest(ctx context.Context, g Grant, citizen bool) (string, error) {
	events, err := r.cfg.Store.GrantHistory(ctx, g.ID)
	if err != nil {
		return "", err
	}
	if len(events) == 0 {
		return "", fmt.Errorf("grant %s has no receipt", g.ID)
	}
	p, err := r.cfg.Partners.PartnerInfo(ctx, g.PartnerID)
	if err != nil {
		return "", err
	}
	claims := r.Claims(g, p, events, len(events)-1, citizen)
	return r.sign(claims)
}

// Claims are the claims of the receipt of events[i], one of grant g's
// lifecycle events (oldest first), in the citizen's copy or the partner's.
func (r *Receipts) Claims(g Grant, p PartnerInfo, events []AccessEvent, i int, citizen bool) map[string]any {
	e := events[i]
	st := e.Grant
	aud := p.ID
	if citizen {
		aud = AudienceCitizen
	}
	holders := make([]map[string]string, 0, len(st.Holders))
	for _, h := range st.Holders {
		rel := RelationRepresented
		if h == g.Citizen {
			rel = RelationSelf
		}
		hh := map[string]string{"sub": r.cfg.Pairwise(p.ID, string(h)), "relation": rel}
		if citizen {
			hh["iin"] = string(h)
		}
		holders = append(holders, hh)
	}
	terms := map[string]string{"version": st.TermsVersion}
	if st.TermsDigest != "" {
		terms["digest"] = st.TermsDigest
	}
	c := map[string]any{
		"iss": r.cfg.Issuer, "aud": aud, "jti": st.Receipt, "iat": e.At.Unix(),
		"receipt_version": ReceiptVersion, "jurisdiction": r.cfg.Jurisdiction, "event": e.Kind,
		"collection_method": st.Method.OrDefault(), "controller": map[string]string{"id": p.ID, "name": p.Name},
		"sub": r.cfg.Pairwise(p.ID, string(g.Citizen)), "grant_id": g.ID, "status": st.Status,
		"documents": st.Documents, "holders": holders, "purpose": st.Purpose,
		"created_at": st.CreatedAt.UTC().Format(time.RFC3339), "expires_at": st.ExpiresAt.UTC().Format(time.RFC3339),
		"duration_days": int(st.ExpiresAt.Sub(st.CreatedAt).Round(time.Hour).Hours() / 24), "terms": terms,
	}
	if citizen {
		c["citizen"] = string(g.Citizen)
	}
	if i > 0 && events[i-1].Grant != nil {
		c["previous"] = events[i-1].Grant.Receipt
	}
	if e.By != "" {
		c["ended_by"] = e.By
	}
	return c
}

func (r *Receipts) sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return r.cfg.Signer.Sign(payload, TypeReceipt)
}
