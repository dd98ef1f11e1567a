package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/pmezard/go-difflib/difflib"
)

// New terms on the citizen's side: /my/terms shows what changed between
// the terms their grants were given under and the current ones, line by
// line, and lets them decline, ending those grants.

// diffLine is one line of what changed: kept, added or removed.
type diffLine struct {
	Kind string // same, added, removed
	Text string
}

// termsView is what myterms.html reads.
type termsView struct {
	From, To string     // the versions compared
	Lines    []diffLine // what changed
	Grants   []string   // the partners whose grants are under older terms
	Missing  bool       // the older text is not kept: only the new one shows
}

// termsDiff compares two texts line by line.
func termsDiff(from, to string) []diffLine {
	a, b := difflib.SplitLines(from), difflib.SplitLines(to)
	var out []diffLine
	for _, op := range difflib.NewMatcher(a, b).GetOpCodes() {
		switch op.Tag {
		case 'e':
			for _, l := range a[op.I1:op.I2] {
				out = append(out, diffLine{"same", strings.TrimRight(l, "\n")})
			}
		default:
			for _, l := range a[op.I1:op.I2] {
				out = append(out, diffLine{"removed", strings.TrimRight(l, "\n")})
			}
			for _, l := range b[op.J1:op.J2] {
				out = append(out, diffLine{"added", strings.TrimRight(l, "\n")})
			}
		}
	}
	return out
}

func (p *myPages) termsText(c *gin.Context, version string) (string, bool) {
	t, err := p.termsTexts.TermsText(c.Request.Context(), version)
	return string(t.Text), err == nil
}

func (p *myPages) showTerms(c *gin.Context) {
	l := p.localizer(c, "")
	old, err := p.settings.UnderOlderTerms(c.Request.Context(), citizen(c))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	v := p.myBase(c, l)
	v.Title = l.T("terms_title", nil)
	current := p.settings.CurrentTerms()
	tv := &termsView{To: current}
	if len(old) > 0 {
		tv.From = old[0].TermsVersion
	}
	for _, g := range old {
		name := g.PartnerID
		if pt, err := p.partners.GetPartner(c.Request.Context(), g.PartnerID); err == nil {
			name = pt.DisplayName(l.Lang)
		}
		tv.Grants = append(tv.Grants, name)
	}
	to, _ := p.termsText(c, current)
	from, ok := p.termsText(c, tv.From)
	tv.Missing = !ok && tv.From != ""
	tv.Lines = termsDiff(from, to)
	v.NewTerms = tv
	p.render(c, http.StatusOK, "myterms.html", v)
}

func (p *myPages) declineTerms(c *gin.Context) {
	l := p.localizer(c, "")
	n, err := p.settings.DeclineTerms(c.Request.Context(), citizen(c))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/?declined="+strconv.Itoa(n))
}
