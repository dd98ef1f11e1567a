package httpapi

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/kelisim/kelisim/consent"
)

// Display forms: each document type renders with its own template, from
// the catalogue's data (see consent.Catalogue). A form gets a formView:
// the document's facts, its fields, the state of its issuer's signature,
// and the labels in the reader's language.

// formView is what a display form's template reads.
type formView struct {
	Type      consent.DocumentType
	Name      string // the type's name
	Number    string
	Issued    string
	Expires   string // empty: does not expire
	Authority string
	Holder    string // the holder's name
	IIN       string
	Status    string // valid, expired or revoked
	// Signature says whether the issuer's signature verified, and by whom.
	Signature consent.SignatureState
	fields    map[string]string
	l         *consent.Localizer
}

// Field is the value of one of the document's own fields.
func (v formView) Field(name string) string { return v.fields[name] }

// Label is a field's label in the reader's language.
func (v formView) Label(name string) string { return v.l.Label(v.Type, name) }

// T is a message of the catalogue, for the words around the fields.
func (v formView) T(id string) string { return v.l.T(id, nil) }

// StatusLabel is the document's status in the reader's language.
func (v formView) StatusLabel() string { return v.l.T("form_status_"+v.Status, nil) }

// forms are the compiled display forms, by type.
type forms map[consent.DocumentType]*template.Template

func compileForms(types *consent.Catalogue) (forms, error) {
	out := forms{}
	for _, info := range types.All() {
		t, err := template.New(string(info.Type)).Option("missingkey=error").Parse(info.Form)
		if err != nil {
			return nil, fmt.Errorf("display form of %s: %w", info.Type, err)
		}
		out[info.Type] = t
	}
	return out, nil
}

// CheckForms compiles every type's display form and renders it once with
// a sample document in every language, so a broken form stops the gateway
// at start, not a citizen's page.
func CheckForms(types *consent.Catalogue) error {
	f, err := compileForms(types)
	if err != nil {
		return err
	}
	messages, err := consent.NewMessages(types)
	if err != nil {
		return err
	}
	for _, lang := range consent.Languages {
		l := messages.For(lang)
		for _, info := range types.All() {
			d := consent.Document{Type: info.Type, Number: "0", Issued: "2026-01-01", Authority: "A", Status: consent.StatusValid,
				Holder: consent.Holder{Name: "N", IIN: "000000000000"}, Fields: map[string]string{}}
			if _, err := f.render(d, consent.SignatureState{}, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// render is d's display form in l's language.
func (f forms) render(d consent.Document, sig consent.SignatureState, l *consent.Localizer) (template.HTML, error) {
	t, ok := f[d.Type]
	if !ok {
		return "", fmt.Errorf("no display form for %s", d.Type)
	}
	v := formView{Type: d.Type, Name: l.Document(d.Type), Number: d.Number, Issued: d.Issued, Expires: d.Expires,
		Authority: d.Authority, Holder: d.Holder.Name, IIN: string(d.Holder.IIN), Status: d.Status, Signature: sig,
		fields: d.Fields, l: l}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("display form of %s: %w", d.Type, err)
	}
	return template.HTML(strings.TrimSpace(b.String())), nil //nolint:gosec // the output of html/template, escaped by it
}
