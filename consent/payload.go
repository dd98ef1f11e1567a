package consent

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// A document's JWS payload, fetched or pushed, is written by hand: it is
// the JSON every fetch makes, and encoding/json's map of claims (its keys
// sorted, each value through reflection) was a twentieth of a fetch's
// CPU. It writes what encoding/json writes for a struct of the same
// claims, as a test checks, in this field order (the map's keys came
// sorted: the same JSON, its members in another order). A shared
// document's view, which names its share instead of a grant, keeps the
// map.

// documentClaims is a document's JWS payload.
type documentClaims struct {
	Iss, Aud, Sub string
	Iat, Exp      int64
	Jti, GrantID  string
	Document      Document
}

// appendJSON appends c as a JSON object to dst.
func (c documentClaims) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"iss":`...)
	dst = appendJSONString(dst, c.Iss)
	dst = append(dst, `,"aud":`...)
	dst = appendJSONString(dst, c.Aud)
	dst = append(dst, `,"sub":`...)
	dst = appendJSONString(dst, c.Sub)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, c.Iat, 10)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, c.Exp, 10)
	dst = append(dst, `,"jti":`...)
	dst = appendJSONString(dst, c.Jti)
	dst = append(dst, `,"grant_id":`...)
	dst = appendJSONString(dst, c.GrantID)
	dst = append(dst, `,"document":`...)
	dst = c.Document.appendJSON(dst)
	return append(dst, '}')
}

// appendJSON appends d to dst as encoding/json writes it (see Document's
// tags: the same names, the same fields left out when empty, the fields'
// keys sorted).
func (d Document) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, string(d.Type))
	dst = append(dst, `,"number":`...)
	dst = appendJSONString(dst, d.Number)
	dst = append(dst, `,"issued":`...)
	dst = appendJSONString(dst, d.Issued)
	if d.Expires != "" {
		dst = append(dst, `,"expires":`...)
		dst = appendJSONString(dst, d.Expires)
	}
	dst = append(dst, `,"authority":`...)
	dst = appendJSONString(dst, d.Authority)
	dst = append(dst, `,"holder":{"name":`...)
	dst = appendJSONString(dst, d.Holder.Name)
	dst = append(dst, `,"iin":`...)
	dst = appendJSONString(dst, string(d.Holder.IIN))
	dst = append(dst, '}')
	if len(d.Fields) > 0 {
		keys := make([]string, 0, len(d.Fields))
		for k := range d.Fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, `,"fields":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, d.Fields[k])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, d.Status)
	if d.Relation != "" {
		dst = append(dst, `,"relation":`...)
		dst = appendJSONString(dst, d.Relation)
	}
	if d.Signed != "" {
		dst = append(dst, `,"issued_document":`...)
		dst = appendJSONString(dst, d.Signed)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string. Printable ASCII that
// encoding/json writes as it is (all but '"', '\\', '<', '>' and '&') is
// copied; any other string is left to encoding/json, which escapes it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
