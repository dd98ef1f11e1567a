package oauth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// Rich authorization requests (RFC 9396): a partner may describe what it
// asks for as authorization_details of type kelisim_documents instead of,
// or beside, document scopes. They are checked when the request is made,
// against the partner's allowance; the consent pages show and narrow them,
// and the tokens carry them as granted.

// checkAuthorizationDetails refuses authorization_details that are
// malformed or ask for a document the partner may not have, with
// invalid_authorization_details (RFC 9396 §5).
func checkAuthorizationDetails(ar fosite.AuthorizeRequester, p partners.Partner) error {
	details, err := consent.ParseAuthorizationDetails(ar.GetRequestForm().Get("authorization_details"))
	if err != nil {
		return invalidDetails(strings.TrimPrefix(err.Error(), consent.ErrAuthorizationDetails.Error()+": "))
	}
	for _, d := range details {
		for _, t := range d.Documents {
			if !slices.Contains(p.Scopes(), t.Scope()) {
				return invalidDetails("document " + string(t) + " is outside the partner's allowance")
			}
		}
	}
	return nil
}

func invalidDetails(hint string) error {
	return &fosite.RFC6749Error{ErrorField: "invalid_authorization_details",
		DescriptionField: "The authorization_details are invalid.", HintField: hint, CodeField: http.StatusBadRequest}
}

// detailScopes are the document scopes a request's authorization_details
// ask for (checked when it was made).
func detailScopes(ar fosite.AuthorizeRequester) []string {
	details, _ := consent.ParseAuthorizationDetails(ar.GetRequestForm().Get("authorization_details"))
	var out []string
	for _, d := range details {
		for _, t := range d.Documents {
			out = append(out, t.Scope())
		}
	}
	return out
}
