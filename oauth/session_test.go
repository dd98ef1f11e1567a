package oauth

import (
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// fill sets every field v holds, however deep, to a value that is not
// its zero: strings, numbers, times, one-element slices and maps, and
// JSON-shaped extras.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%s.%s is unexported: a copy field by field cannot be checked", path, v.Type().Field(i).Name)
			}
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		v.SetString(path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint8:
		v.SetUint('7')
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0), path+"[0]")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		if v.Type().Elem().Kind() == reflect.Interface { // JSON extras
			m.SetMapIndex(reflect.ValueOf("nested"), reflect.ValueOf(map[string]any{"list": []any{"a", 1.5, true, nil}}))
		} else {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, path+".key")
			fill(t, e, path+".value")
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		t.Fatalf("%s: fill does not know %s", path, v.Kind())
	}
}

// A session's clone equals fosite's deep copy on every field fosite's
// session has (a field added by an upgrade is filled here too), and
// shares nothing with the original that a change could reach through.
func TestSessionCloneCopiesEveryField(t *testing.T) {
	s := NewSession()
	fill(t, reflect.ValueOf(s).Elem(), "Session")
	c := s.Clone().(*Session)
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("clone differs:\n%+v\n%+v", c.DefaultSession, s.DefaultSession)
	}
	if !reflect.DeepEqual(c.DefaultSession, s.DefaultSession.Clone()) {
		t.Fatal("clone differs from fosite's deep copy")
	}

	if path := shared(reflect.ValueOf(c), reflect.ValueOf(s), "Session"); path != "" {
		t.Fatalf("the clone shares %s with the original", path)
	}
	c.Claims.Audience[0] = "changed"
	c.Claims.AuthenticationMethodsReferences[0] = "changed"
	c.Claims.Extra["nested"].(map[string]any)["list"].([]any)[0] = "changed"
	c.Headers.Extra["nested"].(map[string]any)["added"] = 1.0
	c.ExpiresAt[fosite.AccessToken] = time.Time{}
	c.Claims.Subject = "changed"
	c.AuthorizationDetails[0] = 'x'
	fresh := NewSession()
	fill(t, reflect.ValueOf(fresh).Elem(), "Session")
	if !reflect.DeepEqual(s, fresh) {
		t.Fatal("a change to the clone reached the original")
	}
}

// shared names the first pointer, map or slice a and b, walked side by
// side, hold in common; "" when none.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Kind() != reflect.Slice || a.Len() > 0 {
			if a.UnsafePointer() == b.UnsafePointer() {
				return path
			}
		}
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Slice:
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				if p := shared(a.MapIndex(k), bv, path+"[k]"); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// An extra of a type JSON does not decode to is copied as fosite copies
// it, not shared.
func TestSessionCloneOtherExtras(t *testing.T) {
	type custom struct{ Values []string }
	s := &Session{DefaultSession: &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{Extra: map[string]any{"custom": &custom{Values: []string{"a"}}}}, Headers: &jwt.Headers{}}}
	c := s.Clone().(*Session)
	got := c.Claims.Extra["custom"].(*custom)
	if got == s.Claims.Extra["custom"] || !reflect.DeepEqual(got, s.Claims.Extra["custom"]) {
		t.Fatalf("custom extra shared or lost: %+v", got)
	}
}

// BenchmarkSessionClone measures the clone of a session as the consent
// pages hold it, against fosite's deep copy of the same session.
func BenchmarkSessionClone(b *testing.B) {
	s := NewSession()
	s.Subject, s.Citizen, s.GrantID = "pairwise-sub", "850315300128", "g-1"
	s.Claims.Issuer, s.Claims.Subject = "https://kelisim.example", "pairwise-sub"
	s.Claims.RequestedAt, s.Claims.AuthTime = time.Now(), time.Now()
	s.ExpiresAt = map[fosite.TokenType]time.Time{fosite.PushedAuthorizeRequestContext: time.Now()}
	b.Run("field by field", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Clone()
		}
	})
	b.Run("fosite", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := *s // as Session.Clone did before
			c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
		}
	})
}
