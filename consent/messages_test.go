package consent

import (
	"encoding/json"
	"os"
	"testing"
)

// Every catalogue has every message of the English one, and every document.
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
	for _, d := range DocumentTypes {
		if en["doc_"+string(d)] == nil {
			t.Errorf("en lacks doc_%s", d)
		}
	}
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
	m, err := NewMessages()
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
