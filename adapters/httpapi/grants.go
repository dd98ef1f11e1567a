package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The grant management API (FAPI Grant Management): a partner reads a
// grant it holds and ends it, with any access token of its own.

// PartnerGrants is what the grant management API needs.
type PartnerGrants interface {
	Get(ctx context.Context, partner, id string) (consent.HeldGrant, error)
	End(ctx context.Context, partner, id string) (consent.HeldGrant, error)
	ConfirmDeletion(ctx context.Context, partner, id string, payload []byte, signed string) (consent.HeldGrant, error)
}

// PartnerSignatures verifies what a partner signs with its own keys.
type PartnerSignatures interface {
	VerifyPartnerJWS(ctx context.Context, clientID, compact, typ string) ([]byte, error)
}

type grantsAPI struct {
	grants     PartnerGrants
	signatures PartnerSignatures
	log        *slog.Logger
}

// deletion takes a partner's signed confirmation that it deleted what it
// received under an ended grant: the JWS as the body (application/jwt),
// or as {"confirmation": "…"}.
func (a *grantsAPI) deletion(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		renderError(c, a.log, consent.ErrDeletionStatement)
		return
	}
	compact := strings.TrimSpace(string(body))
	if strings.HasPrefix(compact, "{") {
		var req struct {
			Confirmation string `json:"confirmation"`
		}
		if json.Unmarshal(body, &req) != nil {
			renderError(c, a.log, consent.ErrDeletionStatement)
			return
		}
		compact = req.Confirmation
	}
	ctx := c.Request.Context()
	partner := access(c).ClientID
	payload, err := a.signatures.VerifyPartnerJWS(ctx, partner, compact, consent.TypeDeletion)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	g, err := a.grants.ConfirmDeletion(ctx, partner, c.Param("id"), payload, compact)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, g)
}

func (a *grantsAPI) get(c *gin.Context) {
	g, err := a.grants.Get(c.Request.Context(), access(c).ClientID, c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g)
}

func (a *grantsAPI) end(c *gin.Context) {
	if _, err := a.grants.End(c.Request.Context(), access(c).ClientID, c.Param("id")); err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}
