package consent

import (
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"testing"
)

// Every catalogue has every message of the English one.
func TestCataloguesComplete(t *testing.T) {
	read := func(lang string) map[string]any {
		b, err := os.ReadFile("locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en := read("en")
	for _, lang := range Languages {
		m := read(lang)
		for k := range en {
			if m[k] == nil {
				t.Errorf("%s lacks %s", lang, k)
			}
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	m, err := NewMessages(shippedCatalogue(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefs []string
		want  string
	}{
		{nil, "kk"},
		{[]string{"ru"}, "ru"},
		{[]string{"", "en-GB,en;q=0.8"}, "en"},
		{[]string{"de"}, "kk"},
		{[]string{"fr", "ru-RU"}, "ru"},
	}
	for _, tt := range tests {
		if got := m.For(tt.prefs...).Lang; got != tt.want {
			t.Errorf("For(%q) = %s, want %s", tt.prefs, got, tt.want)
		}
	}
	ru := m.For("ru")
	if got := ru.T("err_wrong_code", nil, 2); got != "Неверный код. Осталось 2 попытки." {
		t.Errorf("ru plural: %q", got)
	}
	if got := m.For("kk").Document("id_card"); got != "Жеке куәлік" {
		t.Errorf("kk document: %q", got)
	}
}

// Every message renders in every language, whatever count it is given:
// a citizen never reads a message id ("erased_revoked") for want of a
// plural form.
func TestMessagesRenderForEveryCount(t *testing.T) {
	m, err := NewMessages(shippedCatalogue(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var ids map[string]any
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages {
		l := m.For(lang)
		for id := range ids {
			for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 101} {
				if got := l.T(id, nil, n); (got == id && ids[id] != id) || got == "" {
					t.Errorf("%s %s with count %d: %q", lang, id, n, got)
					break
				}
			}
		}
	}
}

func shippedCatalogue(t *testing.T) *Catalogue {
	t.Helper()
	c, err := ShippedCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A localizer is shared by every request in its language: what it keeps
// of plain messages reads as the catalogue does, from any goroutine, and
// ids the catalogue lacks (made of outside values) are not kept.
func TestLocalizerKeepsOnlyCatalogueMessages(t *testing.T) {
	m, err := NewMessages(shippedCatalogue(t))
	if err != nil {
		t.Fatal(err)
	}
	ru := m.For("ru")
	if m.For("ru-RU") != ru {
		t.Fatal("two localizers for one language")
	}
	fresh, _ := m.For("ru").localize("lang_ru", nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if got := ru.T("lang_ru", nil); got != fresh {
					t.Errorf("lang_ru = %q, want %q", got, fresh)
				}
				id := "status_from_outside_" + strconv.Itoa(g*1000+i)
				if got := ru.T(id, nil); got != id {
					t.Errorf("unknown %s = %q", id, got)
				}
			}
		}()
	}
	wg.Wait()
	kept := 0
	ru.plain.Range(func(k, _ any) bool { kept++; return true })
	if kept != 1 {
		t.Errorf("kept %d messages, want only lang_ru", kept)
	}
	if got := ru.T("err_wrong_code", nil, 2); got != "Неверный код. Осталось 2 попытки." {
		t.Errorf("a counted message after plain ones: %q", got)
	}
}

// Texts holds every message that takes no data, as T gives it in each
// language, and none that takes data (it would read "<no value>").
func TestLocalizerTexts(t *testing.T) {
	m, err := NewMessages(shippedCatalogue(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages {
		l := m.For(lang)
		for _, id := range []string{"send_code", "allow", "lang_kk", "never_share"} {
			if got, want := l.Texts[id], l.T(id, nil); got == "" || got != want {
				t.Errorf("%s %s: Texts %q, T %q", lang, id, got, want)
			}
		}
		for _, id := range []string{"consent_intro", "expires_at", "err_wrong_code"} {
			if got, ok := l.Texts[id]; ok {
				t.Errorf("%s %s takes data, but Texts has %q", lang, id, got)
			}
		}
	}
}
