package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// The public register: every partner, the basis it was admitted on, what
// it may ask for and how it receives it, when it was admitted and
// suspended, and its monthly activity — no personal data. As a page in the
// reader's language and as JSON.

// RegisterSource lists partners and their audit trail.
type RegisterSource interface {
	List(ctx context.Context) ([]partners.Partner, error)
	Audit(ctx context.Context, id string, limit int) ([]partners.AuditEntry, error)
}

// Activity counts partners' activity by month.
type Activity interface {
	PartnerActivity(ctx context.Context, since, now time.Time) ([]consent.PartnerMonth, error)
}

type registerAPI struct {
	pages    *pages
	partners RegisterSource
	activity Activity
	now      func() time.Time
	log      *slog.Logger
}

// registerEntry is one partner as the register shows it.
type registerEntry struct {
	ID          string                 `json:"client_id"`
	Name        string                 `json:"name"`
	Admission   *partners.Admission    `json:"admission"` // null: admitted before admissions were recorded
	Documents   []consent.DocumentType `json:"documents"`
	Delivery    string                 `json:"delivery"`
	Verifier    bool                   `json:"verifier"`
	AdmittedAt  time.Time              `json:"admitted_at"`
	Status      string                 `json:"status"`
	SuspendedAt *time.Time             `json:"suspended_at,omitempty"`
	Activity    []consent.PartnerMonth `json:"activity"`

	names map[string]string // by language
}

func (a *registerAPI) entries(ctx context.Context) ([]registerEntry, error) {
	list, err := a.partners.List(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	months, err := a.activity.PartnerActivity(ctx, consent.MonthsBack(now), now)
	if err != nil {
		return nil, err
	}
	byPartner := map[string][]consent.PartnerMonth{}
	for _, m := range months {
		byPartner[m.PartnerID] = append(byPartner[m.PartnerID], m)
	}
	out := make([]registerEntry, 0, len(list))
	for _, p := range list {
		e := registerEntry{ID: p.ID, Name: p.ClientName, Admission: p.Admission, Documents: p.Documents, Delivery: string(p.Delivery),
			Verifier: p.Verifier, AdmittedAt: p.CreatedAt, Status: string(p.Status), Activity: byPartner[p.ID], names: map[string]string{}}
		for _, l := range consent.Languages {
			e.names[l] = p.DisplayName(l)
		}
		if e.Documents == nil {
			e.Documents = []consent.DocumentType{}
		}
		if p.Status == partners.StatusSuspended {
			trail, err := a.partners.Audit(ctx, p.ID, 50)
			if err != nil {
				return nil, err
			}
			for _, t := range trail { // newest first
				if t.Action == "partner.suspend" {
					at := t.At
					e.SuspendedAt = &at
					break
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// json answers GET /register.json.
func (a *registerAPI) json(c *gin.Context) {
	entries, err := a.entries(c.Request.Context())
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, gin.H{"generated_at": a.now().UTC(), "partners": entries})
}

type registerView struct {
	view
	Rows []registerRow
}

type registerRow struct {
	Name, LegalName, Basis, Admitted, Status, Delivery string
	Documents                                          []string
	Activity                                           []consent.PartnerMonth
}

// page answers GET /register.
func (a *registerAPI) page(c *gin.Context) {
	l := a.pages.localizer(c, "")
	entries, err := a.entries(c.Request.Context())
	if err != nil {
		a.pages.fail(c, l, err)
		return
	}
	v := registerView{view: view{L: l, Lang: l.Lang, Title: l.T("register_title", nil), LangLinks: langLinks(c, l)}}
	day := func(t time.Time) string { return t.In(almaty).Format("2006-01-02") }
	for _, e := range entries {
		row := registerRow{Name: e.names[l.Lang], Admitted: day(e.AdmittedAt), Delivery: e.Delivery,
			Status: l.T("register_status_"+e.Status, nil), Activity: e.Activity, Basis: l.T("register_no_admission", nil)}
		if e.SuspendedAt != nil {
			row.Status = l.T("register_suspended_since", map[string]any{"Date": day(*e.SuspendedAt)})
		}
		if a := e.Admission; a != nil {
			row.LegalName, row.Basis = a.LegalName, a.Decision
			if a.LegalBasis != "" {
				if row.Basis != "" {
					row.Basis += "; "
				}
				row.Basis += a.LegalBasis
			}
			row.Basis += " (" + a.Date + ")"
		}
		for _, d := range e.Documents {
			row.Documents = append(row.Documents, l.Document(d))
		}
		v.Rows = append(v.Rows, row)
	}
	a.pages.render(c, http.StatusOK, "register.html", v)
}
