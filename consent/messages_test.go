package consent

import (
	"encoding/json"
	"os"
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
