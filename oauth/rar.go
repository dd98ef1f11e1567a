package oauth

import (
	"context"
	"errors"
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

// ErrInvalidGrantID answers a request that names a grant to merge into or
// replace that the partner does not hold, or that is no longer active
// (FAPI Grant Management §6).
var ErrInvalidGrantID = &fosite.RFC6749Error{ErrorField: "invalid_grant_id",
	DescriptionField: "The grant_id is not a grant this partner holds, or the grant is no longer active.", CodeField: http.StatusBadRequest}

// checkGrantManagement refuses a grant_management_action other than merge
// or replace, one without a grant_id or a grant_id without one
// (invalid_request), and a grant the partner does not hold, active, now
// (invalid_grant_id). Whether the citizen who answers gave it is checked
// when they say who they are.
func (s *Server) checkGrantManagement(ctx context.Context, ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	id, action := form.Get("grant_id"), form.Get("grant_management_action")
	if id == "" && action == "" {
		return nil
	}
	if _, ok := consent.ParseGrantAction(action); !ok {
		return fosite.ErrInvalidRequest.WithHint("The grant_management_action must be merge or replace; query and revoke are the grant management endpoint's.")
	}
	if id == "" {
		return fosite.ErrInvalidRequest.WithHint("The grant_management_action needs the grant_id of the grant to change.")
	}
	g, err := s.cfg.Grants.GetGrant(ctx, id)
	if errors.Is(err, consent.ErrGrantNotFound) || (err == nil && (g.PartnerID != ar.GetClient().GetID() || !g.ActiveAt(s.now()))) {
		return ErrInvalidGrantID
	}
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	return nil
}
