package consent

import (
	"bytes"
	"encoding/json"
	"testing"
)

// claimsAsEncodingJSON is documentClaims as encoding/json writes it, in
// the same order: what appendJSON must write byte for byte.
type claimsAsEncodingJSON struct {
	Iss      string   `json:"iss"`
	Aud      string   `json:"aud"`
	Sub      string   `json:"sub"`
	Iat      int64    `json:"iat"`
	Exp      int64    `json:"exp"`
	Jti      string   `json:"jti"`
	GrantID  string   `json:"grant_id"`
	Document Document `json:"document"`
}

func checkPayload(t *testing.T, c documentClaims) {
	t.Helper()
	got := c.appendJSON(nil)
	want, err := json.Marshal(claimsAsEncodingJSON(c))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("payload\n got %s\nwant %s", got, want)
	}
}

func TestDocumentPayloadIsEncodingJSONs(t *testing.T) {
	base := documentClaims{Iss: "https://kelisim.example", Aud: "partner-1", Sub: "pairwise-sub", Iat: 1764662400, Exp: 1764662700,
		Jti: "jti-1", GrantID: "grant-1"}
	for name, d := range map[string]Document{
		"empty":   {},
		"id card": {Type: "id_card", Number: "045123456", Issued: "2020-01-02", Expires: "2030-01-01", Authority: "MVD", Holder: Holder{Name: "Test Citizen", IIN: "900101300123"}, Status: StatusValid, Relation: RelationSelf},
		"fields sorted, no expiry, issued document": {Type: "driver_license", Number: "AB 123", Issued: "2019-05-06", Authority: "ЦОН",
			Fields: map[string]string{"z": "last", "categories": "B, C", "a": "first", "": "empty key"}, Status: StatusExpired, Signed: "eyJhbGciOiJFUzI1NiJ9.e30.sig"},
		"escapes": {Type: "x", Number: "\"quoted\" \\ back", Issued: "<script>&amp;</script>", Authority: "tab\there\nnew line\r\x00\x1f",
			Holder: Holder{Name: "Әлия Нұрланқызы \u2028\u2029", IIN: "000000000000"}, Fields: map[string]string{"bad utf-8 \xff": "\xc3\x28 and \xed\xa0\x80"},
			Status: "é", Relation: RelationRepresented},
		"empty fields map":  {Type: "birth_certificate", Fields: map[string]string{}},
		"each escape alone": {Type: "&", Number: "<", Issued: ">", Authority: "\"", Holder: Holder{Name: "\\", IIN: "\x7f"}, Status: "\x01", Relation: "é"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			c.Document = d
			checkPayload(t, c)
		})
	}
	c := base
	c.Iss, c.Aud, c.Sub, c.Jti, c.GrantID, c.Iat, c.Exp = "<&>", "\"", "\\", "\u00e9", "\n", -1, 0
	checkPayload(t, c)
}

// FuzzDocumentPayload: a document's fields come from its issuer's
// registry; whatever they hold, the payload is what encoding/json writes.
func FuzzDocumentPayload(f *testing.F) {
	f.Add("id_card", "045123456", "Test Citizen", "categories", "B, C", "<&>\"\\\n", int64(1764662400))
	f.Add("", "", "", "", "", "\xff\xfe", int64(-5))
	f.Fuzz(func(t *testing.T, typ, number, name, key, value, other string, at int64) {
		checkPayload(t, documentClaims{Iss: other, Aud: key, Sub: value, Iat: at, Exp: at + 300, Jti: number, GrantID: name,
			Document: Document{Type: DocumentType(typ), Number: number, Issued: other, Expires: value, Authority: other,
				Holder: Holder{Name: name, IIN: IIN(number)}, Fields: map[string]string{key: value, other: name}, Status: value,
				Relation: key, Signed: other}})
	})
}
