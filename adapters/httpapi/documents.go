package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// Tokens checks the credentials of requests to resource endpoints.
type Tokens interface {
	// Access returns what the request's access token says, checking its
	// DPoP proof when it is bound to a key; *oauth.ResourceError for
	// refused credentials.
	Access(r *http.Request) (oauth.AccessInfo, error)
}

// Documents serves documents to partners that fetch them.
type Documents interface {
	List(ctx context.Context, tok consent.Token) ([]consent.Summary, error)
	Fetch(ctx context.Context, tok consent.Token, t consent.DocumentType, holder string) (string, error)
}

type documentsAPI struct {
	docs  Documents
	types *consent.Catalogue
	log   *slog.Logger
}

const accessKey = "kelisim.access"

// requireToken admits requests whose access token (RFC 6750, or RFC 9449
// for a token bound to a key) is active, carries scope (when set) and is
// one admit accepts: 401 for missing or refused credentials, 403 for a
// missing scope, each with its WWW-Authenticate challenge. The token's
// facts go in the request under accessKey.
func requireToken(tokens Tokens, log *slog.Logger, scope, who string, admit func(oauth.AccessInfo) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		info, err := tokens.Access(c.Request)
		var refused *oauth.ResourceError
		switch {
		case errors.As(err, &refused):
			if refused.Nonce != "" {
				c.Header("DPoP-Nonce", refused.Nonce)
			}
			c.Header("WWW-Authenticate", refused.Challenge)
			problem(c, http.StatusUnauthorized, "Unauthorized", refused.Description)
			return
		case err != nil:
			renderError(c, log, err)
			return
		}
		bound := info.JKT != ""
		if info.DPoPNonce != "" {
			c.Header("DPoP-Nonce", info.DPoPNonce)
		}
		if !admit(info) {
			c.Header("WWW-Authenticate", oauth.Challenge(bound, "invalid_token"))
			problem(c, http.StatusUnauthorized, "Unauthorized", "The access token is not "+who+".")
			return
		}
		if scope != "" && !slices.Contains(info.Scopes, scope) {
			c.Header("WWW-Authenticate", strings.Replace(oauth.Challenge(bound, "insufficient_scope"),
				`"insufficient_scope"`, `"insufficient_scope", scope="`+scope+`"`, 1))
			problem(c, http.StatusForbidden, "Forbidden", fmt.Sprintf("The token lacks the %q scope.", scope))
			return
		}
		c.Set(accessKey, info)
		c.Next()
	}
}

func access(c *gin.Context) oauth.AccessInfo { return c.MustGet(accessKey).(oauth.AccessInfo) }

// partnerToken is the partner's token as the delivery sees it.
func partnerToken(c *gin.Context) consent.Token {
	info := access(c)
	tok := consent.Token{ClientID: info.ClientID, Subject: info.Subject, Citizen: consent.IIN(info.Citizen),
		GrantID: info.GrantID, Scopes: info.Scopes, Grant: info.Grant}
	if info.Partner.ID != "" {
		p := info.Partner.DeliveryInfo()
		tok.Partner = &p
	}
	return tok
}

func (a *documentsAPI) list(c *gin.Context) {
	docs, err := a.docs.List(c.Request.Context(), partnerToken(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"documents": docs})
}

func (a *documentsAPI) fetch(c *gin.Context) {
	t := consent.DocumentType(c.Param("type"))
	if !a.types.Known(t) {
		renderError(c, a.log, errUnknownType)
		return
	}
	jose, err := a.docs.Fetch(c.Request.Context(), partnerToken(c), t, c.Query("holder"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/jose", []byte(jose))
}

func (a *documentsAPI) fail(c *gin.Context, err error) { renderError(c, a.log, err) }

// errUnknownType: the path names no document type the gateway knows.
var errUnknownType = consent.NewError(consent.KindNotFound, "", "no such document type")
