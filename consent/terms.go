package consent

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The terms consents are given under: a version and its text, whose
// digest every receipt carries, so that terms cannot change silently.

//go:embed terms/*.txt
var termsTexts embed.FS

// Terms is one version of the terms and its text.
type Terms struct {
	Version string
	Text    []byte
}

// DefaultTermsVersion is the version whose text ships with the gateway.
const DefaultTermsVersion = "2026-11-01"

// ShippedTerms returns the text of a version that ships with the gateway.
func ShippedTerms(version string) (Terms, error) {
	text, err := termsTexts.ReadFile("terms/" + version + ".txt")
	if err != nil {
		return Terms{}, fmt.Errorf("no text of the terms version %q ships with the gateway; give it as a file", version)
	}
	return Terms{Version: version, Text: text}, nil
}

// Digest is "sha-256:" and the hex SHA-256 of the text.
func (t Terms) Digest() string {
	sum := sha256.Sum256(t.Text)
	return "sha-256:" + hex.EncodeToString(sum[:])
}

// TermsStore keeps every version of the terms a gateway has served, so
// that any replica serves — and compares — the texts earlier grants were
// given under, and a version's text never changes silently.
type TermsStore interface {
	// KeepTerms records t, published at at. Returns ErrTermsRewritten
	// when its version was kept before with another text.
	KeepTerms(ctx context.Context, t Terms, at time.Time) error
	// TermsText returns ErrTermsUnknown for a version never kept.
	TermsText(ctx context.Context, version string) (Terms, error)
}

// Terms errors.
var (
	ErrTermsRewritten = errors.New("this version of the terms was published before with another text: give the new text a new version")
	ErrTermsUnknown   = newError(KindNotFound, "", "no terms of that version are kept")
)
