package consent

import (
	"errors"
	"testing"
)

func TestParseIIN(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"850315300128", nil},
		{"900101400559", nil},
		{"150612601232", nil},
		{"8503 1530 0128", nil},
		{"850315300127", ErrIINCheck},
		{"85031530012", ErrIINFormat},
		{"85031530012a", ErrIINFormat},
		{"", ErrIINFormat},
		// Weighted sum 10 twice: no valid check digit exists.
		{"068709861190", ErrIINCheck},
		{"068709861195", ErrIINCheck},
	}
	for _, tt := range tests {
		_, err := ParseIIN(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseIIN(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
	if got := IIN("850315300128").Masked(); got != "850315******" {
		t.Errorf("Masked = %q", got)
	}
}

func TestParsePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+77011234567":      "+77011234567",
		"8 701 123 45 67":   "+77011234567",
		"+7 (701) 123-4567": "+77011234567",
		"77011234567":       "+77011234567",
	} {
		got, err := ParsePhone(in)
		if err != nil || string(got) != want {
			t.Errorf("ParsePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "+7701123456", "+1 202 555 0100", "+7 301 123 45 67", "phone"} {
		if _, err := ParsePhone(in); err == nil {
			t.Errorf("ParsePhone(%q) accepted", in)
		}
	}
}
