package consent

import (
	"errors"
	"time"
)

// Kind says what sort of failure an error is, whoever answers it: the
// HTTP adapter turns a kind into a status code and a page message in one
// table each, so every handler answers one kind of failure alike.
type Kind uint8

const (
	KindInternal     Kind = iota // a fault of the gateway: 500, its cause logged, never shown
	KindInvalid                  // the request is wrong; the caller can fix it: 400
	KindUnauthorized             // the credential does not (or no longer) admit the request: 401
	KindForbidden                // the caller may not do this: 403
	KindNotFound                 // no such thing, or not the caller's: 404
	KindConflict                 // the request conflicts with the state of things: 409
	KindRateLimited              // a limit was reached; retry after a while: 429
	KindUnavailable              // the store did not answer; nothing was decided: 503
	KindUpstream                 // a state system did not answer: 503
	KindUntrusted                // a state system answered with what does not verify: 502
)

// Error is a failure the domain names: its kind, the catalogue ID of what
// a citizen reads about it, and a sentence for developers and logs.
type Error struct {
	kind Kind
	msg  string
	text string
}

// NewError returns an error of kind; msgID names what a citizen reads about
// it ("" for what its kind says), text what developers and logs read.
func NewError(kind Kind, msgID, text string) *Error {
	return &Error{kind: kind, msg: msgID, text: text}
}

func newError(kind Kind, msgID, text string) *Error { return NewError(kind, msgID, text) }

func (e *Error) Error() string { return e.text }

// Kind says what sort of failure e is.
func (e *Error) Kind() Kind { return e.kind }

// MessageID is the catalogue ID of what a citizen reads about e; empty
// when the page says what its kind says.
func (e *Error) MessageID() string { return e.msg }

// KindOf is the kind of err: that of the first error in its chain that
// has one, else KindInternal.
func KindOf(err error) Kind {
	var k interface{ Kind() Kind }
	if errors.As(err, &k) {
		return k.Kind()
	}
	return KindInternal
}

// MessageOf is the catalogue ID of what a citizen reads about err, and the
// plural count it takes; "" when err has no message of its own.
func MessageOf(err error) (id string, count []int) {
	var m interface{ MessageID() string }
	if !errors.As(err, &m) {
		return "", nil
	}
	var c interface{ MessageCount() int }
	if errors.As(err, &c) {
		return m.MessageID(), []int{c.MessageCount()}
	}
	return m.MessageID(), nil
}

// RetryAfterOf is how long the caller should wait before trying again,
// when err says.
func RetryAfterOf(err error) (time.Duration, bool) {
	var r interface{ RetryAfterDuration() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfterDuration(), true
	}
	return 0, false
}

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldsOf lists the invalid fields err names, if any.
func FieldsOf(err error) []FieldError {
	var f interface{ Fields() []FieldError }
	if errors.As(err, &f) {
		return f.Fields()
	}
	return nil
}
