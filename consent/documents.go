package consent

// The shared vocabulary of documents: their types and scopes, a document
// as a partner receives it, and the state systems that hold them.

import (
	"context"
	"encoding/json"
	"time"
)

// DocumentType names one kind of government digital document, as it appears
// in the scope "documents:<type>".
type DocumentType string

// ScopePrefix starts every document scope.
const ScopePrefix = "documents:"

// Scope is the OAuth scope that asks for documents of type t.
func (t DocumentType) Scope() string { return ScopePrefix + string(t) }

// Document is a citizen's digital document as a partner receives it.
type Document struct {
	Type      DocumentType      `json:"type"`
	Number    string            `json:"number"`
	Issued    string            `json:"issued"`            // YYYY-MM-DD
	Expires   string            `json:"expires,omitempty"` // YYYY-MM-DD; none: does not expire
	Authority string            `json:"authority"`
	Holder    Holder            `json:"holder"`
	Fields    map[string]string `json:"fields,omitempty"`
	// Status is valid or expired on the day it is delivered.
	Status string `json:"status"`
	// Relation says why the consenting citizen may share it: "self", or
	// "legal_representative" for a minor's document (Rules §14).
	Relation string `json:"relation,omitempty"`
	// Signed is the document as its issuing authority signed it (a compact
	// JWS), which the gateway verified and delivers inside its own.
	Signed string `json:"issued_document,omitempty"`
}

// Holder is whose document it is.
type Holder struct {
	Name string `json:"name"`
	IIN  IIN    `json:"iin"`
}

// Document statuses and relations.
const (
	StatusValid         = "valid"
	StatusExpired       = "expired"
	StatusRevoked       = "revoked" // annulled by its issuer
	RelationSelf        = "self"
	RelationRepresented = "legal_representative"
)

// statusOn is the document's status on day now (in Kazakhstan, UTC+5).
func (d Document) statusOn(now time.Time) string {
	if d.Status == StatusRevoked {
		return StatusRevoked
	}
	if d.Expires == "" {
		return StatusValid
	}
	today := now.In(time.FixedZone("UTC+5", 5*3600)).Format(time.DateOnly)
	if d.Expires < today {
		return StatusExpired
	}
	return StatusValid
}

// IssuerCheck verifies a document's issuer signature against the
// authorities the gateway trusts.
type IssuerCheck interface {
	// Verify returns the document as the authority signed it, with Signed
	// set, and who signed it. It returns an error wrapping
	// ErrIssuerSignature, with the state saying why, when the signature
	// is missing, malformed, by an unknown key, or does not verify.
	Verify(signed string) (Document, SignatureState, error)
}

// Authority is an issuing authority as the gateway publishes it, so that
// partners and verifiers can check documents' issuer signatures too.
type Authority struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	JWKS json.RawMessage `json:"jwks"`
}

// SignatureState is what the check of a document's issuer signature found.
type SignatureState struct {
	Verified  bool   `json:"verified"`
	Authority string `json:"authority,omitempty"` // who signed it, as the trust list names them
	KeyID     string `json:"kid,omitempty"`
	Problem   string `json:"problem,omitempty"` // why it did not verify
}

// DocumentSource is a state information system that holds documents.
type DocumentSource interface {
	// Documents returns every document of the citizen. Returns
	// ErrSourceUnavailable when the source cannot answer: never a stale
	// copy passed off as fresh.
	Documents(ctx context.Context, iin IIN) ([]Document, error)
}

// Document errors.
var (
	ErrSourceUnavailable = newError(KindUpstream, "err_registry_down", "the state system that holds this document does not answer")
	ErrNoDocument        = newError(KindNotFound, "err_request_gone", "the citizen has no such valid document")
	ErrNotGranted        = newError(KindForbidden, "", "the grant does not cover this document")
	// ErrIssuerSignature: the state system answered with a document whose
	// issuer signature does not verify; it is never delivered.
	ErrIssuerSignature = newError(KindUntrusted, "err_issuer_signature", "the document's issuer signature does not verify, so the gateway does not deliver it")
)
