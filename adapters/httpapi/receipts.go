package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// Consent receipts for whoever holds one, and the terms they point to: a
// citizen downloads theirs (settings page, me API); anybody may ask
// whether a receipt is still current, and read the terms' text its digest
// covers.

// Receipts is what the receipt routes need.
type Receipts interface {
	ForCitizen(ctx context.Context, citizen consent.IIN, id string) (string, error)
	Status(ctx context.Context, id string) (consent.ReceiptStatus, error)
}

// ContentTypeReceipt is how a receipt is served: a JWT (RFC 7519 §10.3.1).
const ContentTypeReceipt = "application/jwt"

type receiptsAPI struct {
	receipts Receipts
	terms    TermsTexts
	log      *slog.Logger
}

// status answers GET /receipts/:id: current, or superseded by which.
func (a *receiptsAPI) status(c *gin.Context) {
	st, err := a.receipts.Status(c.Request.Context(), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"receipt_id": c.Param("id"), "status": st.Status, "superseded_by": st.SupersededBy})
}

// terms answers GET /terms/:version with the text whose digest receipts
// carry, byte for byte.
func (a *receiptsAPI) text(c *gin.Context) {
	t, err := a.terms.TermsText(c.Request.Context(), c.Param("version"))
	if errors.Is(err, consent.ErrTermsUnknown) {
		problem(c, http.StatusNotFound, "Not found", "No terms of that version are kept here.")
		return
	}
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Header("Digest", t.Digest())
	c.Data(http.StatusOK, "text/plain; charset=utf-8", t.Text)
}

// TermsTexts are every version of the terms the gateway kept.
type TermsTexts interface {
	TermsText(ctx context.Context, version string) (consent.Terms, error)
}

// receipt sends the logged-in citizen their copy of grant id's latest
// receipt, as a file; a failure is a page in their language.
func (p *myPages) receipt(c *gin.Context) {
	jws, err := p.receipts.ForCitizen(c.Request.Context(), citizen(c), c.Param("id"))
	if err != nil {
		p.fail(c, p.localizer(c, ""), err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="kelisim-receipt-`+safeName(c.Param("id"))+`.jwt"`)
	c.Data(http.StatusOK, ContentTypeReceipt, []byte(jws))
}

// forApp gives the citizen's app their copy of grant id's latest receipt.
func (a *receiptsAPI) forApp(c *gin.Context) {
	jws, err := a.receipts.ForCitizen(c.Request.Context(), citizen(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"grant_id": c.Param("id"), "receipt": jws})
}

// safeName keeps what may go in a file name: letters and digits.
func safeName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < 64; i++ {
		if b := s[i]; (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') {
			out = append(out, b)
		}
	}
	return string(out)
}
