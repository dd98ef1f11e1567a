package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The grant management API (FAPI Grant Management): a partner reads a
// grant it holds and ends it, with any access token of its own.

// PartnerGrants is what the grant management API needs.
type PartnerGrants interface {
	Get(ctx context.Context, partner, id string) (consent.HeldGrant, error)
	End(ctx context.Context, partner, id string) (consent.HeldGrant, error)
}

type grantsAPI struct {
	grants PartnerGrants
	log    *slog.Logger
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
