package consent

// The shared vocabulary of documents: their types and scopes, a document
// as a partner receives it, and the state systems that hold them.

import (
	"context"
	"slices"
	"time"
)

// DocumentType names one kind of government digital document, as it appears
// in the scope "documents:<type>".
type DocumentType string

// DocumentTypes lists every document the service knows, in display order.
var DocumentTypes = []DocumentType{
	"id_card",
	"marriage_certificate",
	"birth_certificate",
	"name_change_certificate",
	"divorce_certificate",
	"vehicle_passport",
	"driver_license",
	"pcr_test",
	"vaccination_passport",
	"diploma",
	"student_card",
	"pensioner_card",
	"kandas_card",
	"socid",
}

// ScopePrefix starts every document scope.
const ScopePrefix = "documents:"

// Known reports whether t is a document type of the service.
func (t DocumentType) Known() bool { return slices.Contains(DocumentTypes, t) }

// Scope is the OAuth scope that asks for documents of type t.
func (t DocumentType) Scope() string { return ScopePrefix + string(t) }

// DocumentScopes returns the OAuth scopes of every known document type.
func DocumentScopes() []string {
	out := make([]string, len(DocumentTypes))
	for i, t := range DocumentTypes {
		out[i] = t.Scope()
	}
	return out
}

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
	Relation string `json:"relation"`
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
	RelationSelf        = "self"
	RelationRepresented = "legal_representative"
)

// statusOn is the document's status on day now (in Kazakhstan, UTC+5).
func (d Document) statusOn(now time.Time) string {
	if d.Expires == "" {
		return StatusValid
	}
	today := now.In(time.FixedZone("UTC+5", 5*3600)).Format(time.DateOnly)
	if d.Expires < today {
		return StatusExpired
	}
	return StatusValid
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
)
