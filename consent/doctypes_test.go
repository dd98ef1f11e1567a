package consent_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kelisim/kelisim/consent"
)

func TestCatalogue(t *testing.T) {
	shipped, err := consent.ShippedCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(shipped.Types()); n != 14 || shipped.Types()[0] != "id_card" || !shipped.Known("socid") || shipped.Known("fishing_licence") {
		t.Errorf("shipped: %d types %v", n, shipped.Types())
	}
	if s := shipped.Scopes(); s[0] != "documents:id_card" {
		t.Errorf("scopes: %v", s)
	}

	const fishing = `{"types": [
	  {"type": "fishing_licence", "names": {"kk": "Балық аулау билеті", "ru": "Лицензия на рыбалку", "en": "Fishing licence"},
	   "labels": {"waters": {"kk": "Су айдыны", "ru": "Водоём", "en": "Waters"}},
	   "form_template": "<article class=\"form\">{{.Name}} {{.Field \"waters\"}}</article>"},
	  {"type": "socid", "names": {"kk": "SocID", "ru": "Социальный ID", "en": "Social ID"}, "form": "socid.html"}
	]}`
	dir := fstest.MapFS{"types.json": {Data: []byte(fishing)}, "socid.html": {Data: []byte("<article>{{.Name}}</article>")}}
	c, err := consent.NewCatalogue(dir, "types.json")
	if err != nil {
		t.Fatal(err)
	}
	types := c.Types()
	if len(types) != 15 || types[14] != "fishing_licence" {
		t.Fatalf("with the operator's file: %v", types)
	}
	info, _ := c.Info("socid")
	if info.Name("ru") != "Социальный ID" || info.Form != "<article>{{.Name}}</article>" || types[13] != "socid" {
		t.Errorf("a reworded type keeps its place and takes the new words: %+v", info)
	}
	m, err := consent.NewMessages(c)
	if err != nil {
		t.Fatal(err)
	}
	if l := m.For("ru"); l.Document("fishing_licence") != "Лицензия на рыбалку" || l.Label("fishing_licence", "waters") != "Водоём" ||
		l.Label("fishing_licence", "number") != "Номер" || l.Label("fishing_licence", "odd") != "odd" {
		t.Errorf("names and labels: %q %q %q", l.Document("fishing_licence"), l.Label("fishing_licence", "waters"), l.Label("fishing_licence", "number"))
	}

	for name, file := range map[string]string{
		"a malformed name":      `{"types": [{"type": "Fishing Licence", "names": {"kk": "a", "ru": "b", "en": "c"}, "form_template": "x"}]}`,
		"a language missing":    `{"types": [{"type": "fishing", "names": {"kk": "a", "en": "c"}, "form_template": "x"}]}`,
		"no display form":       `{"types": [{"type": "fishing", "names": {"kk": "a", "ru": "b", "en": "c"}}]}`,
		"two forms":             `{"types": [{"type": "fishing", "names": {"kk": "a", "ru": "b", "en": "c"}, "form": "socid.html", "form_template": "x"}]}`,
		"a form file not there": `{"types": [{"type": "fishing", "names": {"kk": "a", "ru": "b", "en": "c"}, "form": "gone.html"}]}`,
		"an unknown field":      `{"types": [{"type": "fishing", "names": {"kk": "a", "ru": "b", "en": "c"}, "form_template": "x", "scope": "fish"}]}`,
		"no types":              `{"types": []}`,
		"not JSON":              `types: fishing`,
	} {
		dir := fstest.MapFS{"types.json": {Data: []byte(file)}, "socid.html": {Data: []byte("x")}}
		if _, err := consent.NewCatalogue(dir, "types.json"); err == nil || !strings.Contains(err.Error(), "types.json") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
