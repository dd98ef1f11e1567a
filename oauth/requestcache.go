package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"sync"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// requestCache holds the partners and grants one HTTP request has read:
// fosite asks for the same client several times per request, and a
// resource endpoint needs the token's partner and grant again after the
// token check. It lives only as long as the request, so a suspension or a
// revocation still holds from the next request on.
//
// It also keeps track of partners read through the shared partner reader,
// which may serve them from a per-replica cache a moment behind the store:
// such a partner is unconfirmed until the store vouches for its version (a
// record decided on it is stored, or the store returns it with a token).
// If the store shows it changed, the request is stale and is decided again
// with partners read from the store (see Server.settle).
type requestCache struct {
	mu          sync.Mutex
	partners    map[string]partners.Partner
	grants      map[string]consent.Grant
	unconfirmed map[string]int // partner id → version read through the shared reader
	changed     bool           // a partner read here is not as the store has it
	jtis        map[string]bool
	// records are a code's records (the code, its PKCE challenge and its
	// OpenID request), read at once by signature: fosite asks for each
	// of them, and for the code twice, in one exchange.
	records map[string]map[Kind]Record
	// decoded are the codes' own records' requests as decoded, by
	// signature: the exchange reads the code's request four times.
	decoded map[string]storedRequest
	// deferred are records to create in one write when the transaction
	// that decides them is about to commit (see fositeStorage.flushAndCommit).
	deferred *[]Record
	// codes are the codes among deferred, by signature, each with the
	// forms of its PKCE challenge and OpenID request (see foldCode).
	codes map[string]*deferredCode
	// gone are the code signatures whose PKCE challenge and OpenID
	// request went with their exchange.
	gone map[string]bool
}

type requestCacheKey struct{}

func withRequestCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(requestCacheKey{}).(*requestCache); ok {
		return ctx
	}
	c := &requestCache{jtis: map[string]bool{}}
	c.reset()
	return context.WithValue(ctx, requestCacheKey{}, c)
}

// reset forgets what was read, for deciding the request again; the
// client-assertion jtis this request stored are kept, as its own.
func (c *requestCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partners, c.grants, c.unconfirmed, c.changed = map[string]partners.Partner{}, map[string]consent.Grant{}, map[string]int{}, false
	c.records, c.deferred, c.codes, c.gone = map[string]map[Kind]Record{}, nil, nil, map[string]bool{}
	c.decoded = map[string]storedRequest{}
}

// deferredCode is a code waiting in deferred, encoded when it is taken,
// with the forms of the records it holds besides its own.
type deferredCode struct {
	at   int // its place in deferred
	req  fosite.Requester
	also map[Kind]url.Values
}

// foldCode keeps a code's record, or its PKCE challenge or OpenID request,
// for flush when creates are deferred, and reports whether it did. A
// challenge or an OpenID request is the code's own request with another
// form (fosite stores each as a sanitized copy): it is kept as that form
// in the code's record, so that the three are one row, encoded once. One
// that is not its code's request is left to be stored on its own.
func (c *requestCache) foldCode(rec Record, req fosite.Requester) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deferred == nil {
		return false
	}
	if rec.Kind == KindCode {
		if c.codes == nil {
			c.codes = map[string]*deferredCode{}
		}
		c.codes[rec.Signature] = &deferredCode{at: len(*c.deferred), req: req}
		*c.deferred = append(*c.deferred, rec)
		return true
	}
	code, ok := c.codes[rec.Signature]
	if !ok || code.req.GetID() != req.GetID() || code.req.GetSession() != req.GetSession() || code.also[rec.Kind] != nil {
		return false
	}
	if code.also == nil {
		code.also = map[Kind]url.Values{}
	}
	code.also[rec.Kind] = storedForm(req)
	return true
}

// deferring keeps rec for flush when creates are deferred.
func (c *requestCache) deferring(rec Record) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deferred == nil {
		return false
	}
	*c.deferred = append(*c.deferred, rec)
	return true
}

// takeDeferred returns the deferred records, the codes among them
// encoded with what they hold, and stops deferring.
func (c *requestCache) takeDeferred() ([]Record, error) {
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deferred == nil {
		return nil, nil
	}
	recs := *c.deferred
	codes := c.codes
	c.deferred, c.codes = nil, nil
	for _, code := range codes {
		data, err := encodeWith(code.req, KindCode, code.also)
		if err != nil {
			return nil, err
		}
		recs[code.at].Request = data
	}
	return recs, nil
}

// stopDeferring makes creates write at once again (see deferCreates).
func (c *requestCache) stopDeferring() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.deferred, c.codes = nil, nil
	c.mu.Unlock()
}

// codeRecords returns what was read of signature's records, if it was.
func (c *requestCache) codeRecords(signature string) (map[Kind]Record, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, ok := c.records[signature]
	return recs, ok
}

func (c *requestCache) keepCodeRecords(signature string, recs map[Kind]Record) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.records[signature] = recs
	c.mu.Unlock()
}

// codeRequest returns the request of signature's code record rec as
// decoded, the caller's own: decoded once per request.
func (c *requestCache) codeRequest(signature string, rec Record) (storedRequest, error) {
	if c != nil {
		c.mu.Lock()
		sr, ok := c.decoded[signature]
		c.mu.Unlock()
		if ok {
			return sr.clone(), nil
		}
	}
	var sr storedRequest
	if err := json.Unmarshal(rec.Request, &sr); err != nil {
		return storedRequest{}, fmt.Errorf("decode %s record: %w", KindCode, err)
	}
	if c != nil {
		c.mu.Lock()
		c.decoded[signature] = sr.clone()
		c.mu.Unlock()
	}
	return sr, nil
}

// droppedWith notes that the records of a code that go with its exchange
// are gone.
func (c *requestCache) droppedWith(signature string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gone[signature] = true
	c.mu.Unlock()
}

// dropped reports whether a code's records went with its exchange.
func (c *requestCache) dropped(signature string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone[signature]
}

// fromReader keeps p, read through the shared reader, as unconfirmed.
func (c *requestCache) fromReader(p partners.Partner) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partners[p.ID] = p
	c.unconfirmed[p.ID] = p.Version
}

// confirm records that the store has partner id at version.
func (c *requestCache) confirm(id string, version int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.unconfirmed[id]; ok {
		c.changed = c.changed || v != version
		delete(c.unconfirmed, id)
	}
}

// markChanged records that a partner read here is not as the store has it.
func (c *requestCache) markChanged() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.changed = true
	c.mu.Unlock()
}

// stale reports whether the request was decided on a partner the store
// has otherwise, and which partners are still unconfirmed.
func (c *requestCache) stale() (bool, map[string]int) {
	if c == nil {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed, maps.Clone(c.unconfirmed)
}

func (c *requestCache) ownJTI(jti string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jtis[jti]
}

func (c *requestCache) storedJTI(jti string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.jtis[jti] = true
	c.mu.Unlock()
}

func cacheOf(ctx context.Context) *requestCache {
	c, _ := ctx.Value(requestCacheKey{}).(*requestCache)
	return c
}

func (c *requestCache) partner(id string) (partners.Partner, bool) {
	if c == nil {
		return partners.Partner{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.partners[id]
	return p, ok
}

func (c *requestCache) grant(id string) (consent.Grant, bool) {
	if c == nil {
		return consent.Grant{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.grants[id]
	return g, ok
}

// put keeps a partner and a grant read from the store itself.
func (c *requestCache) put(p *partners.Partner, g *consent.Grant) {
	if c == nil {
		return
	}
	if p != nil {
		c.confirm(p.ID, p.Version)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p != nil {
		c.partners[p.ID] = *p
	}
	if g != nil {
		c.grants[g.ID] = *g
	}
}
