package consent

import (
	"embed"
	"encoding/json"
	"fmt"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var locales embed.FS

// Languages the service speaks, the default first.
var Languages = []string{"kk", "ru", "en"}

// Messages is the message catalogue: every string a citizen reads, in
// Kazakh (the default), Russian and English; the names of document types
// and their fields come from the Catalogue.
type Messages struct {
	bundle *i18n.Bundle
	types  *Catalogue
}

// NewMessages loads the embedded catalogues, and the names of the types
// of types.
func NewMessages(types *Catalogue) (*Messages, error) {
	b := i18n.NewBundle(language.Kazakh)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, l := range Languages {
		if _, err := b.LoadMessageFileFS(locales, "locales/"+l+".json"); err != nil {
			return nil, fmt.Errorf("load %s messages: %w", l, err)
		}
	}
	return &Messages{bundle: b, types: types}, nil
}

// Types is the catalogue of document types the messages name.
func (m *Messages) Types() *Catalogue { return m.types }

// matcher picks among Languages, in their order.
var matcher = language.NewMatcher([]language.Tag{language.Kazakh, language.Russian, language.English})

// Localizer speaks one language.
type Localizer struct {
	Lang  string
	l     *i18n.Localizer
	types *Catalogue
}

// For returns the localizer of the first language of prefs the service
// speaks; prefs may be tags ("ru", "en-GB") or Accept-Language values.
func (m *Messages) For(prefs ...string) *Localizer {
	lang := Languages[0]
	for _, p := range prefs {
		if p == "" {
			continue
		}
		tags, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(tags) == 0 {
			continue
		}
		_, idx, conf := matcher.Match(tags...)
		if conf != language.No {
			lang = Languages[idx]
			break
		}
	}
	return &Localizer{Lang: lang, l: i18n.NewLocalizer(m.bundle, lang), types: m.types}
}

// T translates message id with template data; count, when given, picks
// the plural form. A missing message shows its id, never panics.
func (l *Localizer) T(id string, data map[string]any, count ...int) string {
	cfg := &i18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if len(count) > 0 {
		cfg.PluralCount = count[0]
		if data == nil {
			cfg.TemplateData = map[string]any{"Count": count[0]}
		}
	}
	s, err := l.l.Localize(cfg)
	if err != nil && cfg.PluralCount != nil {
		// A message without the plural form this count needs reads as its
		// general form, never as its id.
		cfg.PluralCount = nil
		s, err = l.l.Localize(cfg)
	}
	if err != nil {
		return id
	}
	return s
}

// Document is the name of a document type; a type the catalogue does not
// have reads as itself.
func (l *Localizer) Document(t DocumentType) string {
	if info, ok := l.types.Info(t); ok {
		return info.Name(l.Lang)
	}
	return string(t)
}

// Label is the label of a document's field: the type's own, else the
// catalogue's common one ("form_<field>"), else the field's name.
func (l *Localizer) Label(t DocumentType, field string) string {
	if info, ok := l.types.Info(t); ok {
		if s := info.Labels[field][l.Lang]; s != "" {
			return s
		}
	}
	if s := l.T("form_"+field, nil); s != "form_"+field {
		return s
	}
	return field
}
