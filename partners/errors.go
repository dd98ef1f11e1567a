package partners

import (
	"strings"

	"github.com/kelisim/kelisim/consent"
)

// Errors the registry returns, each of a kind the HTTP layer maps once.
var (
	// ErrNotFound: no partner with that client_id.
	ErrNotFound = consent.NewError(consent.KindNotFound, "err_request_gone", "no partner with that client_id")
	// ErrConflict: the partner changed (or was created) concurrently.
	ErrConflict = consent.NewError(consent.KindConflict, "", "the partner changed concurrently; try again")
)

// FieldError is one problem with one field of a registration.
type FieldError = consent.FieldError

// InvalidError carries every problem of an input the operator sent.
type InvalidError struct{ Problems []FieldError }

// Kind says the operator sent something invalid.
func (e *InvalidError) Kind() consent.Kind { return consent.KindInvalid }

// Fields lists every problem.
func (e *InvalidError) Fields() []FieldError { return e.Problems }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Message
		if p.Field != "" {
			parts[i] = p.Field + ": " + p.Message
		}
	}
	return "invalid partner registration: " + strings.Join(parts, "; ")
}
