package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/consent"
)

// A partner signs what it states to the gateway (a deletion confirmation)
// with a key it registered for private_key_jwt: its inline JWKS or the
// JWKS at its jwks_uri.

// ErrNoPartnerKeys: the partner registered no key to sign with.
var ErrNoPartnerKeys = consent.NewError(consent.KindForbidden, "", "the partner registered no signing keys (jwks or jwks_uri); it cannot sign statements")

// ErrPartnerSignature: the statement is not a JWS of the expected type
// signed by one of the partner's keys.
var ErrPartnerSignature = consent.NewError(consent.KindInvalid, "", "the statement is not signed by one of the partner's registered keys")

// VerifyPartnerJWS verifies compact as a JWS of type typ signed by one of
// partner clientID's registered keys, and returns its payload.
func (s *Server) VerifyPartnerJWS(ctx context.Context, clientID, compact, typ string) ([]byte, error) {
	p, err := s.storage.partners.GetPartner(ctx, clientID)
	if err != nil {
		return nil, err
	}
	raw := []byte(p.JWKS)
	if len(raw) == 0 && p.JWKSURI != "" {
		if raw, err = fetchJWKS(ctx, p.JWKSURI); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPartnerSignature, err)
		}
	}
	if len(raw) == 0 {
		return nil, ErrNoPartnerKeys
	}
	var keys josev4.JSONWebKeySet
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("%w: the partner's JWKS: %v", ErrPartnerSignature, err)
	}
	sig, err := josev4.ParseSignedCompact(compact, []josev4.SignatureAlgorithm{josev4.ES256, josev4.PS256, josev4.RS256, josev4.EdDSA})
	if err != nil || len(sig.Signatures) != 1 {
		return nil, ErrPartnerSignature
	}
	if got, _ := sig.Signatures[0].Protected.ExtraHeaders["typ"].(string); got != typ {
		return nil, fmt.Errorf("%w: typ must be %s", ErrPartnerSignature, typ)
	}
	for _, k := range keys.Key(sig.Signatures[0].Header.KeyID) {
		if payload, err := sig.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, ErrPartnerSignature
}

func fetchJWKS(ctx context.Context, uri string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("the partner's jwks_uri answered " + resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
