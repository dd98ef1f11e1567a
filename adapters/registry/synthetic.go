package registry

import (
	"fmt"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// Synthetic returns the i-th citizen of the synthetic population used by
// load tests: a deterministic valid IIN (born 1990-01-01 + i days, a serial
// from i, a correct check digit) and a distinct phone.
func Synthetic(i int) (consent.IIN, consent.Phone) {
	born := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/10000)
	// Digit 7 is 3 (a man born in the 1900s), or 4 when no check digit
	// exists for 3; (birth date, serial) is unique per i either way.
	for _, sex := range []int{3, 4} {
		eleven := fmt.Sprintf("%s%d%04d", born.Format("060102"), sex, i%10000)
		if iin, err := consent.ParseIIN(withCheck(eleven)); err == nil {
			return iin, consent.Phone(fmt.Sprintf("+7709%07d", i%10_000_000))
		}
	}
	panic(fmt.Sprintf("no valid IIN for synthetic citizen %d", i)) // not seen for the first 20,000 (tested)
}

// withCheck appends the check digit to eleven digits, or an impossible one.
func withCheck(eleven string) string {
	d := make([]int, 11)
	for i, r := range eleven {
		d[i] = int(r - '0')
	}
	sum := func(w []int) int {
		t := 0
		for i := range d {
			t += d[i] * w[i]
		}
		return t % 11
	}
	c := sum([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	if c == 10 {
		c = sum([]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2})
	}
	if c == 10 {
		return eleven + "X"
	}
	return fmt.Sprintf("%s%d", eleven, c)
}

// AddSynthetic adds n synthetic citizens, each with an ID card and a
// driving licence, to the demo registry.
func (d *Demo) AddSynthetic(n int) {
	for i := range n {
		iin, phone := Synthetic(i)
		name := fmt.Sprintf("Synthetic Citizen %d", i)
		d.citizens[iin] = consent.Citizen{IIN: iin, Name: name, Phone: phone}
		holder := consent.Holder{Name: name, IIN: iin}
		d.documents[iin] = []consent.Document{
			{Type: "id_card", Number: fmt.Sprintf("S%08d", i), Issued: "2020-01-01", Expires: "2030-01-01", Authority: "Ministry of Internal Affairs", Holder: holder},
			{Type: "driver_license", Number: fmt.Sprintf("SD%07d", i), Issued: "2021-01-01", Expires: "2031-01-01", Authority: "Ministry of Internal Affairs", Holder: holder},
		}
	}
}
