package partners

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// Checks of what an operator registers: URLs, redirect URIs (including
// native apps' private-use schemes) and keys.

// checkURL accepts absolute https URLs without fragments, and plain http to a
// loopback host when allowLoopback is set (a development gateway).
func checkURL(raw string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not have a fragment")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowLoopback && IsLoopback(u.Hostname()) {
			return nil
		}
		if allowLoopback {
			return errors.New("must use https (plain http only to a loopback host)")
		}
	}
	return errors.New("must use https")
}

// privateScheme is a private-use URI scheme in reverse-domain form
// (RFC 8252 §7.1), such as kz.examplebank.app.
var privateScheme = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$`)

// checkRedirectURI admits what checkURL admits, and the redirect URIs of a
// native app (RFC 8252): a private-use scheme in reverse-domain form with
// a path and no authority ("kz.examplebank.app:/oauth/callback"). Schemes
// that are not reverse-domain names — javascript:, data:, file: — are
// refused.
func checkRedirectURI(raw string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Scheme == "https" || u.Scheme == "http" {
		return checkURL(raw, allowLoopback)
	}
	switch {
	case !privateScheme.MatchString(u.Scheme):
		return errors.New("must use https, or a private-use scheme in reverse-domain form (like kz.examplebank.app:/callback)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/"):
		return errors.New("a private-use scheme takes a path and no host (like kz.examplebank.app:/callback)")
	}
	return nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkJWKS(raw json.RawMessage) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("is not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("has no keys")
	}
	for _, k := range set.Keys {
		if !k.Valid() {
			return fmt.Errorf("key %q is not valid", k.KeyID)
		}
		if !k.IsPublic() {
			return fmt.Errorf("key %q is private: publish only public keys", k.KeyID)
		}
	}
	return nil
}

func checkEncryptionKey(raw json.RawMessage) error {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("is not a JSON Web Key: %v", err)
	}
	if !k.Valid() || !k.IsPublic() {
		return errors.New("must be a valid public key")
	}
	if k.Use != "" && k.Use != "enc" {
		return errors.New(`must have use "enc"`)
	}
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return errors.New("an EC key must be on P-256")
		}
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return errors.New("an RSA key must have at least 2048 bits")
		}
	default:
		return errors.New("must be an EC P-256 or RSA key")
	}
	return nil
}
