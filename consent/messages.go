package consent

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

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
	// speakers holds one Localizer a language, in the order of Languages:
	// a localizer never changes, so every request in a language shares it.
	speakers []*Localizer
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
	plain, err := plainIDs()
	if err != nil {
		return nil, err
	}
	m := &Messages{bundle: b, types: types}
	for _, lang := range Languages {
		l := &Localizer{Lang: lang, l: i18n.NewLocalizer(b, lang), types: types, Texts: make(map[string]string, len(plain))}
		for _, id := range plain {
			l.Texts[id], _ = l.localize(id, nil)
		}
		m.speakers = append(m.speakers, l)
	}
	return m, nil
}

// plainIDs are the ids of the catalogue's messages that take no data: in
// no language a template, nor a plural.
func plainIDs() ([]string, error) {
	takesData := map[string]bool{}
	for _, lang := range Languages {
		data, err := locales.ReadFile("locales/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		var msgs map[string]any
		if err := json.Unmarshal(data, &msgs); err != nil {
			return nil, fmt.Errorf("read %s messages: %w", lang, err)
		}
		for id, m := range msgs {
			s, ok := m.(string)
			takesData[id] = takesData[id] || !ok || strings.Contains(s, "{{")
		}
	}
	var ids []string
	for id, data := range takesData {
		if !data {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Types is the catalogue of document types the messages name.
func (m *Messages) Types() *Catalogue { return m.types }

// matcher picks among Languages, in their order.
var matcher = language.NewMatcher([]language.Tag{language.Kazakh, language.Russian, language.English})

// Localizer speaks one language. It is safe for concurrent use.
type Localizer struct {
	Lang  string
	l     *i18n.Localizer
	types *Catalogue
	// plain keeps each message of the catalogue asked for without data
	// or count, as rendered: the catalogue never changes, and a page asks
	// for dozens. An id it does not have is not kept, so what callers
	// make of outside values cannot grow it.
	plain sync.Map // message id → string
	// Texts are the catalogue's messages that take no data, as T gives
	// them, by id. Pages read them as fields ({{.L.Texts.send_code}}): a
	// call of T from a template is a method look-up and a call by
	// reflection, about a fifth of the time a consent page takes to render.
	Texts map[string]string
}

// For returns the localizer of the first language of prefs the service
// speaks; prefs may be tags ("ru", "en-GB") or Accept-Language values.
func (m *Messages) For(prefs ...string) *Localizer {
	idx := 0
	for _, p := range prefs {
		if p == "" {
			continue
		}
		tags, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(tags) == 0 {
			continue
		}
		if _, i, conf := matcher.Match(tags...); conf != language.No {
			idx = i
			break
		}
	}
	return m.speakers[idx]
}

// T translates message id with template data; count, when given, picks
// the plural form. A missing message shows its id, never panics.
func (l *Localizer) T(id string, data map[string]any, count ...int) string {
	if data == nil && len(count) == 0 {
		if s, ok := l.plain.Load(id); ok {
			return s.(string)
		}
		s, ok := l.localize(id, nil)
		if ok {
			l.plain.Store(id, s)
		}
		return s
	}
	s, _ := l.localize(id, data, count...)
	return s
}

// localize is T, and whether the catalogue has message id.
func (l *Localizer) localize(id string, data map[string]any, count ...int) (string, bool) {
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
		return id, false
	}
	return s, true
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
