package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/kelisim/kelisim/oauth"
)

// verifyDocument is the README's snippet for partners, kept compiling and
// working here: it verifies a document with nothing but the JWKS.
func verifyDocument(issuer, clientID, compact string) (json.RawMessage, error) {
	resp, err := http.Get(issuer + "/.well-known/jwks.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var jwks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, err
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "kelisim-document+jwt" {
		return nil, fmt.Errorf("not a Kelisim document: typ %q", typ)
	}
	var claims struct {
		jwt.Claims
		GrantID  string          `json:"grant_id"`
		Document json.RawMessage `json:"document"`
	}
	if err := tok.Claims(jwks, &claims); err != nil { // picks the key by kid
		return nil, err
	}
	if err := claims.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{clientID}, Time: time.Now()}); err != nil {
		return nil, err
	}
	return claims.Document, nil
}

// verifyIssued is the README's second check: the issuing authority's
// signature inside a document verifyDocument returned, against the
// gateway's published trust list. It returns the authority's name.
func verifyIssued(issuer string, document json.RawMessage) (string, error) {
	var outer struct {
		Type   string `json:"type"`
		Number string `json:"number"`
		Holder struct {
			IIN string `json:"iin"`
		} `json:"holder"`
		Issued string `json:"issued_document"`
	}
	if err := json.Unmarshal(document, &outer); err != nil {
		return "", err
	}
	resp, err := http.Get(issuer + "/trust-list.json")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var list struct {
		Authorities []struct {
			ID   string             `json:"id"`
			Name string             `json:"name"`
			JWKS jose.JSONWebKeySet `json:"jwks"`
		} `json:"authorities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", err
	}
	jws, err := jose.ParseSignedCompact(outer.Issued, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.PS256, jose.RS256})
	if err != nil {
		return "", err
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "issued-document+jwt" {
		return "", fmt.Errorf("not an issued document: typ %q", typ)
	}
	for _, a := range list.Authorities {
		keys := a.JWKS.Key(h.KeyID)
		if len(keys) == 0 {
			continue
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			return "", err
		}
		var inner struct {
			Issuer   string `json:"iss"`
			Document struct {
				Type   string `json:"type"`
				Number string `json:"number"`
				Holder struct {
					IIN string `json:"iin"`
				} `json:"holder"`
			} `json:"document"`
		}
		if err := json.Unmarshal(payload, &inner); err != nil {
			return "", err
		}
		d := inner.Document
		if inner.Issuer != a.ID || d.Type != outer.Type || d.Number != outer.Number || d.Holder.IIN != outer.Holder.IIN {
			return "", fmt.Errorf("%s signed another document", a.Name)
		}
		return a.Name, nil
	}
	return "", fmt.Errorf("key %q is in no authority's keys", h.KeyID)
}

func TestReadmeVerifySnippet(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	other := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	_, body := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card")
	doc, err := verifyDocument(g.base, p.id, string(body))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.Unmarshal(doc, &d)
	if d["type"] != "id_card" {
		t.Errorf("document %s", doc)
	}
	if by, err := verifyIssued(g.base, doc); err != nil || by != "Ministry of Internal Affairs" {
		t.Errorf("the issuer's signature inside: %q %v", by, err)
	}
	var swapped map[string]any
	_ = json.Unmarshal(doc, &swapped)
	swapped["number"] = "000000000"
	if raw, _ := json.Marshal(swapped); true {
		if _, err := verifyIssued(g.base, raw); err == nil {
			t.Error("an outer document that is not the one the authority signed passed")
		}
	}
	// The README shows both checks exactly as they run here.
	readme, _ := os.ReadFile("../../README.md")
	src, _ := os.ReadFile("readme_test.go")
	for _, name := range []string{"func verifyDocument(", "func verifyIssued("} {
		body := string(src)[strings.Index(string(src), name):]
		body = body[:strings.Index(body, "\n}\n")+3]
		if !strings.Contains(string(readme), body) {
			t.Errorf("the README's %s… is not the one the tests run", name)
		}
	}
	if _, err := verifyDocument(g.base, other.id, string(body)); err == nil {
		t.Error("another partner accepted a document addressed to this one")
	}
	tampered := string(body[:len(body)-4]) + "AAAA"
	if _, err := verifyDocument(g.base, p.id, tampered); err == nil {
		t.Error("a tampered signature verified")
	}
	// Six minutes later the same document has expired.
	parsed, _ := jwt.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.ES256})
	var c jwt.Claims
	_ = parsed.UnsafeClaimsWithoutVerification(&c)
	if err := c.Validate(jwt.Expected{AnyAudience: jwt.Audience{p.id}, Time: time.Now().Add(6 * time.Minute)}); err != jwt.ErrExpired {
		t.Errorf("six minutes later: %v, want jwt.ErrExpired", err)
	}
}

// The README's FAPI section and discovery agree: each metadata key a
// partner's library reads for DPoP, rich authorization requests and grant
// management is named, with every value discovery gives it.
func TestReadmeAgreesWithDiscovery(t *testing.T) {
	g := start(t)
	_, disco := g.do(t, "GET", oauth.PathDiscovery, nil, nil)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"dpop_signing_alg_values_supported", "authorization_details_types_supported",
		"grant_management_endpoint", "grant_management_actions_supported", "grant_management_action_required",
		"authorization_response_iss_parameter_supported", "pushed_authorization_request_endpoint"} {
		v, ok := disco[key]
		if !ok {
			t.Errorf("discovery lacks %s", key)
			continue
		}
		if !strings.Contains(string(readme), "`"+key) {
			t.Errorf("the README does not name %s", key)
		}
		values, _ := v.([]any)
		for _, x := range values {
			if !strings.Contains(string(readme), "`"+fmt.Sprint(x)+"`") {
				t.Errorf("the README does not list %v among %s", x, key)
			}
		}
	}
}
