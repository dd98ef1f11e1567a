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
// Kazakh (the default), Russian and English.
type Messages struct {
	bundle *i18n.Bundle
}

// NewMessages loads the embedded catalogues.
func NewMessages() (*Messages, error) {
	b := i18n.NewBundle(language.Kazakh)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, l := range Languages {
		if _, err := b.LoadMessageFileFS(locales, "locales/"+l+".json"); err != nil {
			return nil, fmt.Errorf("load %s messages: %w", l, err)
		}
	}
	return &Messages{bundle: b}, nil
}

// matcher picks among Languages, in their order.
var matcher = language.NewMatcher([]language.Tag{language.Kazakh, language.Russian, language.English})

// Localizer speaks one language.
type Localizer struct {
	Lang string
	l    *i18n.Localizer
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
	return &Localizer{Lang: lang, l: i18n.NewLocalizer(m.bundle, lang)}
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

// Document is the name of a document type.
func (l *Localizer) Document(t DocumentType) string { return l.T("doc_"+string(t), nil) }
