// Package consent is the citizen's side of Kelisim: which documents exist,
// and (in later parts) the grants a citizen gives partners.
package consent

import "slices"

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
