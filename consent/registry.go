package consent

import (
	"context"
	"errors"
)

// Citizen is what the citizen registry says about a person.
type Citizen struct {
	IIN   IIN
	Name  string
	Phone Phone // registered mobile number; empty for a minor
	// Represents lists the minors this citizen is the legal representative
	// of, according to the state information systems.
	Represents []IIN
}

// Registry is the state system that knows citizens and their phones.
type Registry interface {
	// Citizen returns ErrUnknownCitizen when no citizen has that IIN, and
	// ErrRegistryUnavailable when the registry cannot answer.
	Citizen(ctx context.Context, iin IIN) (Citizen, error)
}

// Registry errors.
var (
	ErrUnknownCitizen      = errors.New("no citizen with that IIN")
	ErrRegistryUnavailable = newError(KindUpstream, "err_registry_down", "the citizen registry is unavailable")
)

// SMS sends text messages.
type SMS interface {
	// Send delivers text to phone. id identifies the message, so a
	// provider can drop a retried duplicate.
	Send(ctx context.Context, id string, phone Phone, text string) error
}
