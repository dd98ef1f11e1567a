package oauth

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
)

// ownRequestsOnly changes no answer: every token handler the server
// composes, asked to answer a request it does not handle, writes nothing
// and says so (or nothing), as ownRequestsOnly does without asking it;
// and the handler of a request is asked.
func TestOwnRequestsOnly(t *testing.T) {
	ctx := context.Background()
	conf := &fosite.Config{GlobalSecret: []byte("0123456789abcdef0123456789abcdef")}
	strategy := &compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(conf)}
	factories := map[string]compose.Factory{
		"code": compose.OAuth2AuthorizeExplicitFactory, "client credentials": compose.OAuth2ClientCredentialsGrantFactory,
		"refresh": compose.OAuth2RefreshTokenGrantFactory, "pkce": compose.OAuth2PKCEFactory,
		"openid code": compose.OpenIDConnectExplicitFactory, "openid refresh": compose.OpenIDConnectRefreshFactory,
	}
	for name, factory := range factories {
		h, ok := factory(conf, &fositeStorage{}, strategy).(fosite.TokenEndpointHandler)
		if !ok {
			t.Fatalf("%s: not a token handler", name)
		}
		for _, grant := range []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"} {
			req := fosite.NewAccessRequest(NewSession())
			req.GrantTypes = fosite.Arguments{grant}
			req.Client = &fosite.DefaultClient{ID: "p1", GrantTypes: fosite.Arguments{grant}}
			if h.CanHandleTokenEndpointRequest(ctx, req) {
				continue
			}
			resp := fosite.NewAccessResponse()
			if err := h.PopulateTokenEndpointResponse(ctx, req, resp); err != nil && !errors.Is(err, fosite.ErrUnknownRequest) {
				t.Errorf("%s, asked to answer %s: %v", name, grant, err)
			}
			if resp.GetAccessToken() != "" || len(resp.ToMap()) > 2 {
				t.Errorf("%s, asked to answer %s, wrote %v", name, grant, resp.ToMap())
			}
		}
	}
	for _, handles := range []bool{false, true} {
		h := &fakeTokenHandler{handles: handles}
		err := ownRequestsOnly{h}.PopulateTokenEndpointResponse(ctx, fosite.NewAccessRequest(NewSession()), fosite.NewAccessResponse())
		if h.asked != handles || (!handles && !errors.Is(err, fosite.ErrUnknownRequest)) || (handles && err != nil) {
			t.Errorf("a handler that handles the request: %v; asked %v, %v", handles, h.asked, err)
		}
	}
}

type fakeTokenHandler struct {
	fosite.TokenEndpointHandler
	handles, asked bool
}

func (h *fakeTokenHandler) CanHandleTokenEndpointRequest(context.Context, fosite.AccessRequester) bool {
	return h.handles
}

func (h *fakeTokenHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	h.asked = true
	return nil
}
