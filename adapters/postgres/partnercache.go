package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kelisim/kelisim/partners"
)

// Partners are read on nearly every request (each client authentication,
// each consent page) and change rarely, so the OAuth server reads them
// through a cache. Every change to a partner notifies the channel
// partnersChannel in its transaction; each replica listens on it and drops
// the partner when the change commits. The cache is trusted only while the
// replica is listening: when the listening connection is lost, the cache
// is emptied and bypassed until it listens again. A token's use never
// relies on the cache: GetToken reads the partner with the token.
const partnersChannel = "kelisim_partners"

// partnerCacheTTL bounds how long an entry lives even with no
// notification, should one ever be missed.
const partnerCacheTTL = time.Minute

type partnerCache struct {
	mu        sync.Mutex
	listening bool
	gen       uint64 // bumped by every eviction: a read that overlaps one is not kept
	entries   map[string]cachedPartner
}

type cachedPartner struct {
	p  partners.Partner
	at time.Time
}

func newPartnerCache() *partnerCache {
	return &partnerCache{entries: map[string]cachedPartner{}}
}

func (c *partnerCache) get(id string) (partners.Partner, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if ok && c.listening && time.Since(e.at) < partnerCacheTTL {
		return e.p.Clone(), c.gen, true
	}
	return partners.Partner{}, c.gen, false
}

// put keeps p unless an eviction happened since the read began (gen).
func (c *partnerCache) put(p partners.Partner, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listening && c.gen == gen {
		c.entries[p.ID] = cachedPartner{p: p.Clone(), at: time.Now()}
	}
}

func (c *partnerCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

// reset empties the cache and says whether it may be used from now on.
func (c *partnerCache) reset(listening bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.listening = listening
	clear(c.entries)
}

// state says whether the cache is used (listening) and how many partners
// it holds.
func (c *partnerCache) state() (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listening, len(c.entries)
}

// PartnerCacheState says whether the partner cache listens for changes
// (and so is used) and how many partners it holds: false and 0 without
// Options.CachePartners.
func (s *Store) PartnerCacheState() (listening bool, entries int) {
	if s.partners == nil {
		return false, 0
	}
	return s.partners.state()
}

// listenPartners keeps a connection listening on partnersChannel until
// the store closes, reconnecting after a second when it is lost.
func (s *Store) listenPartners(cfg *pgx.ConnConfig) {
	defer close(s.listenerDone)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.closing
		cancel()
	}()
	for ctx.Err() == nil {
		s.listenOnce(ctx, cfg)
		s.partners.reset(false)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// DefaultListenCheck is how long the listener waits for a notification
// before it checks that the server still answers (Options.ListenCheck): a
// server or network that froze sends nothing, and a cache trusted
// meanwhile would miss changes.
const DefaultListenCheck = 5 * time.Second

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+partnersChannel)
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	// What changed before LISTEN took effect is not in the cache: empty,
	// and used only once the listener has heard a notification sent as
	// a partner's change is.
	if heard, err := s.hear(ctx, conn); !heard {
		// A probe that could not be sent (the store unreachable or its
		// pool busy) says nothing of the listener: it tries again.
		if err == nil && ctx.Err() == nil && !s.deaf.Swap(true) {
			s.log.Error("the partner cache is bypassed: its listener does not hear what is notified through the pool; is KELISIM_DATABASE_DIRECT_URL (or the database URL without it) a pooler in transaction mode?", "waited", s.timeout)
		}
		return
	}
	if s.deaf.Swap(false) {
		s.log.Info("the partner cache's listener hears again")
	}
	s.partners.reset(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, s.listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if !strings.HasPrefix(n.Payload, probePrefix) { // another replica's listener's
				s.partners.evict(n.Payload)
			}
			continue
		case ctx.Err() != nil || !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded):
			return
		}
		pctx, cancel := context.WithTimeout(ctx, s.timeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return // not listening: the caller empties the cache and bypasses it
		}
	}
}

// probePrefix starts the payload of a listener's own notification, which
// no partner's id does.
const probePrefix = "kelisim-listener-probe "

// hear sends a notification through the pool, as a partner's change is
// sent, and reports whether the listening connection conn heard it
// within the store's timeout. Behind a pooler in transaction mode (a
// direct URL that is not direct), LISTEN takes, but what is notified
// never reaches the connection: the cache would then be trusted while it
// misses every change. Changes heard meanwhile are applied. err is set
// when the notification could not be sent, or the connection failed.
func (s *Store) hear(ctx context.Context, conn *pgx.Conn) (heard bool, err error) {
	probe := probePrefix + rand.Text()
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	err = notifyPartner(sctx, s.pool, probe)
	cancel()
	if err != nil {
		return false, err
	}
	// The wait has the timeout to itself: a pool slow to send the probe
	// does not leave it too little to be heard.
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(pctx)
		switch {
		case err != nil && pctx.Err() != nil && ctx.Err() == nil:
			return false, nil // not heard in time
		case err != nil:
			return false, err
		case n.Payload == probe:
			return true, nil
		case !strings.HasPrefix(n.Payload, probePrefix):
			s.partners.evict(n.Payload)
		}
	}
}

// CachedPartners returns the partner reader for the OAuth server: as
// GetPartner, through the cache described above.
func (s *Store) CachedPartners() *CachedPartners { return &CachedPartners{s: s} }

// CachedPartners reads partners through the store's cache.
type CachedPartners struct{ s *Store }

// Cached reports whether partner id would be served from memory.
func (c *CachedPartners) Cached(id string) bool {
	if c.s.partners == nil {
		return false
	}
	_, _, ok := c.s.partners.get(id)
	return ok
}

// GetPartner returns partners.ErrNotFound for an unknown id. Within a
// transaction, or a context made by partners.Fresh, it reads the store
// (and keeps what it read). Under partners.Once, what it served the
// context first it serves again, from memory or the store.
func (c *CachedPartners) GetPartner(ctx context.Context, id string) (partners.Partner, error) {
	if c.s.partners == nil || c.s.inTxContext(ctx) {
		return c.s.GetPartner(ctx, id)
	}
	p, gen, ok := c.s.partners.get(id)
	if ok && !partners.WantsFresh(ctx) {
		return partners.ReadOnce(ctx, id, func() (partners.Partner, error) { return p, nil })
	}
	if ok {
		c.s.partners.evict(id) // it may be stale: what is read next replaces it
		_, gen, _ = c.s.partners.get(id)
	}
	p, err := c.s.GetPartner(ctx, id)
	if err == nil {
		c.s.partners.put(p, gen)
	}
	return p, err
}
