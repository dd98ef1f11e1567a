package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The code page is shown from what the browser carries of its challenge:
// the start sends the browser there with the challenge as it was sent,
// signed under the service's key and bound to the browser's consent
// session, so the page reads nothing from the store. The answer reads the
// store, which stays the truth on the code, its tries and its use. What is
// carried is the same for a decoy as for a challenge whose code went out.

// maxCarriedChallenge bounds what CarriedChallenge decodes.
const maxCarriedChallenge = 2048

type carriedChallenge struct {
	ID        string         `json:"i"`
	PendingID string         `json:"p"`
	PartnerID string         `json:"a"`
	Documents []DocumentType `json:"d"`
	Days      int            `json:"n"`
	ExpiresAt time.Time      `json:"x"`
	Method    Method         `json:"m,omitempty"`
}

// CarryChallenge is what the browser carries of c to its code page (see
// CarriedChallenge): c as it stands, signed, readable by the browser but
// not alterable.
func (s *Service) CarryChallenge(c Challenge) string {
	payload, err := json.Marshal(carriedChallenge{ID: c.ID, PendingID: c.PendingID, PartnerID: c.PartnerID, Documents: c.Documents,
		Days: c.Days, ExpiresAt: c.ExpiresAt, Method: c.Method})
	if err != nil {
		return ""
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.carriedMAC(c.Session, p))
}

// CarriedChallenge returns the challenge id as the browser of session
// carries it (CarryChallenge), for showing its code page: its documents
// and days as they were when it was started, without its code, tries,
// resends or citizen (a page shown again after a resend offers the
// resend again; the store refuses one too many). ok is false when carried is not the signed
// challenge id of this session, or the challenge has expired: then the
// store is read, as the page did before.
func (s *Service) CarriedChallenge(carried, id, session string) (Challenge, bool) {
	if carried == "" || len(carried) > maxCarriedChallenge {
		return Challenge{}, false
	}
	p, sig, ok := strings.Cut(carried, ".")
	if !ok {
		return Challenge{}, false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	key := s.SessionKey(session)
	if err != nil || !hmac.Equal(mac, s.carriedMAC(key, p)) {
		return Challenge{}, false
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil {
		return Challenge{}, false
	}
	var cc carriedChallenge
	if err := json.Unmarshal(payload, &cc); err != nil || cc.ID != id || !s.now().Before(cc.ExpiresAt) {
		return Challenge{}, false
	}
	return Challenge{ID: cc.ID, PendingID: cc.PendingID, PartnerID: cc.PartnerID, Session: key, Documents: cc.Documents,
		Days: cc.Days, ExpiresAt: cc.ExpiresAt, Method: cc.Method, Status: ChallengePending}, true
}

// carriedMAC signs a carried challenge's payload for the session whose
// keyed hash is sessionKey.
func (s *Service) carriedMAC(sessionKey, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("challenge carried by the browser\x00"))
	m.Write([]byte(sessionKey))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}
