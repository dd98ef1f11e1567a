package consent

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The code page is shown from what the browser carries of its challenge,
// and a right code is approved from it: the start sends the browser there
// with the challenge as it was sent, sealed under the service's key
// (AES-GCM) and bound to the browser's consent session and to the
// challenge, so the page reads nothing from the store and the answer
// proves the code in the statement that uses the challenge (see
// ApproveRequest.Carried). The store stays the truth on the code, its
// tries and its use. What is carried is sealed, so the browser reads
// nothing of it (the citizen's IIN is in it), and is as long for a decoy
// as for a challenge whose code went out.

// maxCarriedChallenge bounds what CarriedChallenge decodes.
const maxCarriedChallenge = 2048

type carriedChallenge struct {
	ID        string         `json:"i"`
	PendingID string         `json:"p"`
	PartnerID string         `json:"a"`
	Citizen   IIN            `json:"c"`
	Pad       string         `json:"z"` // as long as Citizen is not, for a decoy
	Documents []DocumentType `json:"d"`
	Days      int            `json:"n"`
	ExpiresAt int64          `json:"x"` // in microseconds since 1970: as long for every challenge
	Method    Method         `json:"m,omitempty"`
	Lang      string         `json:"l"`
	// Version is the challenge's when it was carried: a right code is
	// approved from what is carried only while the challenge is still at
	// it, as an approval after reading it is (see ApproveRequest.Carried).
	Version int `json:"v"`
}

// newCarrier is the seal of carried challenges, under a key of its own
// derived from the service's.
func newCarrier(key []byte) cipher.AEAD {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("challenge carried by the browser: sealing key"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// carriedFor is what a carried challenge is bound to: the session (its
// keyed hash) and the challenge's id.
func carriedFor(sessionKey, id string) []byte {
	return []byte(sessionKey + "\x00" + id)
}

// CarryChallenge is what the browser carries of c to its code page and
// back (see CarriedChallenge): c as it stands, sealed.
func (s *Service) CarryChallenge(c Challenge) string {
	payload, err := json.Marshal(carriedChallenge{ID: c.ID, PendingID: c.PendingID, PartnerID: c.PartnerID, Citizen: c.Citizen,
		Pad: strings.Repeat("0", max(0, iinLength-len(c.Citizen))), Documents: c.Documents, Days: c.Days,
		ExpiresAt: c.ExpiresAt.UnixMicro(), Method: c.Method, Lang: c.Lang, Version: c.Version})
	if err != nil {
		return ""
	}
	nonce := make([]byte, s.carrier.NonceSize(), s.carrier.NonceSize()+len(payload)+s.carrier.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.carrier.Seal(nonce, nonce, payload, carriedFor(c.Session, c.ID)))
}

// iinLength is the length of an IIN.
const iinLength = 12

// CarriedChallenge returns the challenge id as the browser of session
// carries it (CarryChallenge): its partner, citizen (none for a decoy),
// documents, days, language and version as they were when it was carried,
// without its code, tries, resends or the minors the citizen represents. It shows the code
// page (which offers a resend the store may refuse) and proves a right
// code (ApproveRequest.Carried). ok is false when carried is not a sealed
// challenge id of this session, or the challenge has expired: then the
// store is read.
func (s *Service) CarriedChallenge(carried, id, session string) (Challenge, bool) {
	if carried == "" || len(carried) > maxCarriedChallenge {
		return Challenge{}, false
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(carried)
	if err != nil || len(sealed) < s.carrier.NonceSize() {
		return Challenge{}, false
	}
	key := s.SessionKey(session)
	n := s.carrier.NonceSize()
	payload, err := s.carrier.Open(nil, sealed[:n], sealed[n:], carriedFor(key, id))
	if err != nil {
		return Challenge{}, false
	}
	var cc carriedChallenge
	if err := json.Unmarshal(payload, &cc); err != nil || cc.ID != id {
		return Challenge{}, false
	}
	expires := time.UnixMicro(cc.ExpiresAt).UTC()
	if !s.now().Before(expires) {
		return Challenge{}, false
	}
	return Challenge{ID: cc.ID, PendingID: cc.PendingID, PartnerID: cc.PartnerID, Citizen: cc.Citizen, Session: key,
		Documents: cc.Documents, Days: cc.Days, ExpiresAt: expires, Method: cc.Method, Lang: cc.Lang, Version: cc.Version,
		Status: ChallengePending}, true
}
