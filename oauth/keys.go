package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
)

// Secrets derives every key the gateway needs from the one KELISIM_SECRET,
// each for one purpose, so that no two uses share key material.
type Secrets struct {
	secret     []byte
	tokenHMAC  []byte
	clientHMAC []byte
	pairwise   []byte
	sealing    []byte
	// pairwiseMACs are HMACs keyed with pairwise, reset for each use: a
	// document fetch makes a subject or more, and keying a new HMAC each
	// time was most of their cost.
	pairwiseMACs sync.Pool
}

// MinSecretLen is the shortest KELISIM_SECRET accepted.
const MinSecretLen = 32

// NewSecrets derives the gateway's keys from secret.
func NewSecrets(secret []byte) (*Secrets, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("the secret must be at least %d bytes", MinSecretLen)
	}
	derive := func(purpose string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, "kelisim "+purpose, 32)
		if err != nil {
			panic(err) // only fails for lengths HKDF cannot produce
		}
		return k
	}
	s := &Secrets{
		secret:     secret,
		tokenHMAC:  derive("token hmac"),
		clientHMAC: derive("client secret hmac"),
		pairwise:   derive("pairwise subject"),
		sealing:    derive("sealing at rest"),
	}
	s.pairwiseMACs.New = func() any { return hmac.New(sha256.New, s.pairwise) }
	return s, nil
}

// Key derives a 32-byte key for one purpose of another package (OTP
// hashes, CSRF tokens); each purpose gets an unrelated key.
func (s *Secrets) Key(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, s.secret, nil, "kelisim "+purpose, 32)
	if err != nil {
		panic(err)
	}
	return k
}

// HashSecret returns the keyed hash a client secret is stored as. Client
// secrets carry 256 random bits, so a fast keyed hash is as strong as a slow
// password hash, and keeps the token endpoint fast.
func (s *Secrets) HashSecret(secret []byte) []byte {
	m := hmac.New(sha256.New, s.clientHMAC)
	m.Write(secret)
	return m.Sum(nil)
}

// Compare implements fosite.Hasher in constant time.
func (s *Secrets) Compare(_ context.Context, hash, data []byte) error {
	if !hmac.Equal(hash, s.HashSecret(data)) {
		return errors.New("secret mismatch")
	}
	return nil
}

// Hash implements fosite.Hasher.
func (s *Secrets) Hash(_ context.Context, data []byte) ([]byte, error) {
	return s.HashSecret(data), nil
}

// PairwiseSubject is the subject partner clientID knows citizen by: stable
// for that partner, unrelated across partners, and not reversible to the IIN.
func (s *Secrets) PairwiseSubject(clientID, citizen string) string {
	m := s.pairwiseMACs.Get().(hash.Hash)
	defer s.pairwiseMACs.Put(m)
	m.Reset()
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(citizen))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// Seal encrypts plaintext for storage (AES-256-GCM, random nonce).
func (s *Secrets) Seal(plaintext, aad []byte) []byte {
	gcm := s.gcm()
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal made; it fails for anything altered or sealed
// under another secret.
func (s *Secrets) Open(sealed, aad []byte) ([]byte, error) {
	gcm := s.gcm()
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed data too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

func (s *Secrets) gcm() cipher.AEAD {
	block, err := aes.NewCipher(s.sealing)
	if err != nil {
		panic(err) // the key is always 32 bytes
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

// Keys holds the gateway's ES256 signing keys, loaded from the store. Every
// replica reads the same keys, so any of them verifies what another signed.
//
// Rotation publishes the new key at once and lets it sign only from
// ActivatesAt, a little later, so every replica (reloading every
// ReloadEvery) publishes it before anything it signed is seen. The retired
// key stays published for PublishRetired, longer than anything it signed
// lives.
type Keys struct {
	store   Store
	secrets *Secrets
	now     func() time.Time

	mu   sync.RWMutex
	keys []signingKey // newest first

	headers sync.Map // kid "\x00" typ → the encoded protected header
}

// Key timings.
const (
	ReloadEvery    = 30 * time.Second
	ActivateAfter  = 2 * ReloadEvery
	PublishRetired = 24 * time.Hour
)

type signingKey struct {
	kid         string
	private     *ecdsa.PrivateKey
	activatesAt time.Time
	retiredAt   time.Time
}

// NewKeys loads the signing keys, making the first one when the store has
// none. It fails when a key cannot be opened with this secret.
func NewKeys(ctx context.Context, store Store, secrets *Secrets, now func() time.Time) (*Keys, error) {
	k := &Keys{store: store, secrets: secrets, now: now}
	err := store.EnsureSigningKey(ctx, func() (SigningKey, error) { return k.generate(now()) })
	if err != nil {
		return nil, fmt.Errorf("ensure signing key: %w", err)
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keys) generate(activates time.Time) (SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return SigningKey{}, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	now := k.now().UTC()
	kid := now.Format("20060102") + "-" + hex.EncodeToString(id)
	return SigningKey{KID: kid, Alg: "ES256", Private: k.secrets.Seal(der, []byte(kid)), CreatedAt: now, ActivatesAt: activates.UTC()}, nil
}

// Rotate makes a new signing key that signs from ActivateAfter on; the
// current one retires then. Returns the new key's id.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	sk, err := k.generate(k.now().Add(ActivateAfter))
	if err != nil {
		return "", err
	}
	if err := k.store.RotateSigningKey(ctx, sk); err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	return sk.KID, k.Reload(ctx)
}

// Run reloads the keys every ReloadEvery until ctx ends, so a rotation made
// on any replica reaches this one.
func (k *Keys) Run(ctx context.Context, log interface{ Error(string, ...any) }) {
	t := time.NewTicker(ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
				log.Error("reload signing keys", "err", err)
			}
		}
	}
}

// Reload reads the keys again from the store.
func (k *Keys) Reload(ctx context.Context) error {
	stored, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	keys := make([]signingKey, 0, len(stored))
	for _, sk := range stored {
		der, err := k.secrets.Open(sk.Private, []byte(sk.KID))
		if err != nil {
			return fmt.Errorf("open signing key %s: wrong KELISIM_SECRET? %w", sk.KID, err)
		}
		priv, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return fmt.Errorf("parse signing key %s: %w", sk.KID, err)
		}
		keys = append(keys, signingKey{kid: sk.KID, private: priv, activatesAt: sk.ActivatesAt, retiredAt: sk.RetiredAt})
	}
	if len(keys) == 0 {
		return errors.New("no signing key")
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// Current returns the key id and private key new signatures use: the
// newest key that has activated and not retired.
func (k *Keys) Current() (string, *ecdsa.PrivateKey) {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, sk := range k.keys {
		if !sk.activatesAt.After(now) && (sk.retiredAt.IsZero() || sk.retiredAt.After(now)) {
			return sk.kid, sk.private
		}
	}
	// Clocks disagree around a rotation: sign with the newest active key.
	for _, sk := range k.keys {
		if !sk.activatesAt.After(now) {
			return sk.kid, sk.private
		}
	}
	last := k.keys[len(k.keys)-1]
	return last.kid, last.private
}

// JWKS returns the public keys to publish: upcoming, current, and retired
// ones for PublishRetired after they retired.
func (k *Keys) JWKS() josev4.JSONWebKeySet {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := josev4.JSONWebKeySet{Keys: make([]josev4.JSONWebKey, 0, len(k.keys))}
	for _, sk := range k.keys {
		if !sk.retiredAt.IsZero() && now.After(sk.retiredAt.Add(PublishRetired)) {
			continue
		}
		set.Keys = append(set.Keys, josev4.JSONWebKey{Key: sk.private.Public(), KeyID: sk.kid, Algorithm: "ES256", Use: "sig"})
	}
	return set
}

// Sign returns payload as a compact JWS (ES256, RFC 7515 and 7518 §3.4)
// with the current key, its kid and the given typ. It is written out here
// rather than through go-jose's signer, which builds a signer, a JSON
// object and several copies per signature: every document delivered is
// signed, and tests check what this writes with go-jose.
func (k *Keys) Sign(payload []byte, typ string) (string, error) {
	kid, priv := k.Current()
	header, err := k.header(kid, typ)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := make([]byte, 0, len(header)+enc.EncodedLen(len(payload))+2+enc.EncodedLen(64))
	input = append(input, header...)
	input = append(input, '.')
	input = enc.AppendEncode(input, payload)
	digest := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	input = append(input, '.')
	return string(enc.AppendEncode(input, sig[:])), nil
}

// header is the base64url protected header of a signature by kid with
// typ, encoded once per pair (a few kids over a gateway's life, two or
// three typs).
func (k *Keys) header(kid, typ string) (string, error) {
	name := kid + "\x00" + typ
	if h, ok := k.headers.Load(name); ok {
		return h.(string), nil
	}
	raw, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{"ES256", kid, typ})
	if err != nil {
		return "", err
	}
	h := base64.RawURLEncoding.EncodeToString(raw)
	k.headers.Store(name, h)
	return h, nil
}

// Encrypt wraps a compact JWS in a compact JWE to the partner's public key
// (sign-then-encrypt): ECDH-ES+A256KW for EC keys, RSA-OAEP-256 for RSA,
// A256GCM content encryption, cty "JWT".
func Encrypt(jws string, jwk []byte) (string, error) {
	var key josev4.JSONWebKey
	if err := key.UnmarshalJSON(jwk); err != nil {
		return "", fmt.Errorf("encryption key: %w", err)
	}
	alg := josev4.ECDH_ES_A256KW
	if _, ok := key.Key.(*rsa.PublicKey); ok {
		alg = josev4.RSA_OAEP_256
	}
	enc, err := josev4.NewEncrypter(josev4.A256GCM, josev4.Recipient{Algorithm: alg, Key: key.Key, KeyID: key.KeyID},
		(&josev4.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt([]byte(jws))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
