package oauth

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
)

// A token's record decoded once and kept gives what decoding it again
// gives, in objects of the caller's own; a record whose bytes changed is
// decoded again.
func TestDecodedTokensMatchDecoding(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	session := NewSession()
	session.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour)}
	session.Subject, session.Citizen, session.GrantID, session.JKT = "pairwise-sub", "850315300128", "g-1", "thumb"
	session.AuthorizationDetails = json.RawMessage(`[{"type":"kelisim_documents","documents":["id_card"]}]`)
	req := &fosite.Request{ID: "r-1", RequestedAt: at, Client: &fosite.DefaultClient{ID: "bank"},
		RequestedScope: fosite.Arguments{"openid", "documents:id_card"}, GrantedScope: fosite.Arguments{"documents:id_card"},
		GrantedAudience: fosite.Arguments{"https://bank.example"}, Form: url.Values{"dpop_jkt": {"thumb"}}, Session: session}
	raw, err := encodeRequest(req, KindAccess)
	if err != nil {
		t.Fatal(err)
	}
	var d decodedTokens
	for round := range 2 { // a miss, then a hit
		e, err := d.decode("sig", raw)
		if err != nil {
			t.Fatal(err)
		}
		got := NewSession()
		e.fill(got)
		want := NewSession()
		var sr storedRequest
		if err := json.Unmarshal(raw, &sr); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sr.Session, want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: session %+v, decoding gives %+v", round, got, want)
		}
		sr.Session = nil
		copied := e.storedCopy()
		if !reflect.DeepEqual(copied, sr) {
			t.Errorf("round %d: request %+v, decoding gives %+v", round, copied, sr)
		}
		// What a caller changes stays its own.
		copied.GrantedScope[0], copied.Form["dpop_jkt"][0] = "changed", "changed"
		got.ExpiresAt[fosite.AccessToken] = at
		got.AuthorizationDetails[0] = '{'
	}
	session.GrantID = "g-2"
	changed, _ := encodeRequest(req, KindAccess)
	e, err := d.decode("sig", changed)
	if err != nil {
		t.Fatal(err)
	}
	if e.session.GrantID != "g-2" {
		t.Errorf("a changed record was served as kept: grant %q", e.session.GrantID)
	}
}
