package consent

import "testing"

// go test -bench . ./consent: the OTP hash is computed on every code check.
func BenchmarkCodeHash(b *testing.B) {
	key := make([]byte, 32)
	c := Challenge{ID: "0123456789abcdef0123456789abcdef", PartnerID: "partner", Citizen: "850315300128",
		Documents: []DocumentType{"id_card", "driver_license"}, Days: 90}
	for b.Loop() {
		codeHash(key, c, "123456")
	}
}

func BenchmarkParseIIN(b *testing.B) {
	for b.Loop() {
		_, _ = ParseIIN("850315300128")
	}
}
