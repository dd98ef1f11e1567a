package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The citizen's own documents (Rules §9, §12): /my/documents lists them and
// those of the minors the citizen represents; each opens its display form.

// docRow is one document in the list.
type docRow struct {
	Link, Name, Holder, Number, Status, StatusLabel string
	Verified                                        bool
}

// docsView is what mydocuments.html and mydocument.html read.
type docsView struct {
	Docs []docRow
	Form template.HTML // one document's display form
	Name string
}

// holderPositions numbers the holders of docs in order: 0 the citizen,
// then each minor. Links name a holder by it, never by the IIN, which would
// land in browser histories and proxies' logs.
func holderPositions(docs []consent.ReadDocument) map[consent.IIN]int {
	pos := map[consent.IIN]int{}
	for _, d := range docs {
		if _, ok := pos[d.Holder.IIN]; !ok {
			pos[d.Holder.IIN] = len(pos)
		}
	}
	return pos
}

func (p *myPages) documents(c *gin.Context) {
	l := p.localizer(c, "")
	docs, err := p.settings.Documents(c.Request.Context(), citizen(c))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	v := p.myBase(c, l)
	v.Title = l.T("docs_title", nil)
	v.Docs = &docsView{}
	pos := holderPositions(docs)
	for _, d := range docs {
		link := "/my/documents/" + strconv.Itoa(pos[d.Holder.IIN]) + "/" + url.PathEscape(string(d.Type))
		v.Docs.Docs = append(v.Docs.Docs, docRow{Link: link, Name: l.Document(d.Type), Holder: d.Holder.Name, Number: d.Number,
			Status: d.Status, StatusLabel: l.T("form_status_"+d.Status, nil), Verified: d.Err == nil})
	}
	p.render(c, http.StatusOK, "mydocuments.html", v)
}

func (p *myPages) document(c *gin.Context) {
	l := p.localizer(c, "")
	docs, err := p.settings.Documents(c.Request.Context(), citizen(c))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	pos := holderPositions(docs)
	for _, d := range docs {
		if strconv.Itoa(pos[d.Holder.IIN]) != c.Param("holder") || string(d.Type) != c.Param("type") {
			continue
		}
		form, err := p.forms.render(d.Document, d.Signature, l)
		if err != nil {
			p.fail(c, l, err)
			return
		}
		v := p.myBase(c, l)
		v.Title = l.Document(d.Type)
		v.Docs = &docsView{Form: form, Name: l.Document(d.Type)}
		p.render(c, http.StatusOK, "mydocument.html", v)
		return
	}
	p.fail(c, l, consent.ErrNoDocument)
}

// documentJSON is one of the citizen's documents in the me API: the
// document, its display form's facts, and its signature's state.
type documentJSON struct {
	consent.Document
	Name      string                 `json:"name"`
	Signature consent.SignatureState `json:"signature"`
}

func (a *meAPI) documents(c *gin.Context) {
	docs, err := a.settings.Documents(c.Request.Context(), citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	l := a.messages.For(c.Query("lang"), c.GetHeader("Accept-Language"))
	out := make([]documentJSON, 0, len(docs))
	for _, d := range docs {
		doc := d.Document
		doc.Signed = "" // the authority's JWS is for partners; the citizen's app reads the facts
		out = append(out, documentJSON{Document: doc, Name: l.Document(d.Type), Signature: d.Signature})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"documents": out})
}
