package partners

import (
	"errors"
	"strings"
)

// Errors the registry returns; the HTTP layer maps each to a status once.
var (
	// ErrNotFound: no partner with that client_id.
	ErrNotFound = errors.New("partner not found")
	// ErrConflict: the partner changed (or was created) concurrently.
	ErrConflict = errors.New("partner changed concurrently")
)

// FieldError is one problem with one field of a registration.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidError carries every problem of an input the operator sent.
type InvalidError struct{ Problems []FieldError }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid partner registration: " + strings.Join(parts, "; ")
}
