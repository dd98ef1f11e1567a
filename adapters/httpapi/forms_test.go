package httpapi_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
)

// Every shipped display form renders in every language; a form that does
// not parse, or fails when rendered, is refused before the gateway starts.
func TestCheckForms(t *testing.T) {
	if err := httpapi.CheckForms(shippedTypes(t)); err != nil {
		t.Fatalf("shipped forms: %v", err)
	}
	for name, form := range map[string]string{
		"does not parse":   `<article>{{.Name</article>`,
		"no such field":    `<article>{{.Colour}}</article>`,
		"no such function": `<article>{{shout .Name}}</article>`,
	} {
		dir := fstest.MapFS{"t.json": {Data: []byte(`{"types": [{"type": "fishing", "names": {"kk": "a", "ru": "b", "en": "c"}, "form_template": ` +
			strings.ReplaceAll(`"`+strings.ReplaceAll(form, `"`, `\"`)+`"`, "\n", "") + `}]}`)}}
		c, err := consent.NewCatalogue(dir, "t.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := httpapi.CheckForms(c); err == nil || !strings.Contains(err.Error(), "fishing") {
			t.Errorf("a form that %s: %v", name, err)
		}
	}
}
