package oauth

import (
	"context"
	"errors"
	"sync"
)

// A code's exchange is one write. fosite begins a transaction, uses the
// code, creates the access and refresh tokens, and commits; here the
// writes wait for the commit and go to the store together, with the
// code's PKCE challenge and OpenID request dropped where a code from
// before they were folded into its record has them apart (Store.UseRecord). The
// statement needs no transaction of its own: it is all or nothing, and of
// two exchanges of one code exactly one issues.

// exchange is one code exchange's pending write.
type exchange struct {
	mu    sync.Mutex
	begun bool   // fosite's transaction is open
	code  string // the code's signature, once fosite used it
}

type exchangeKey struct{}

// withExchange makes the code exchange decided with the returned context
// write at its commit, in one statement.
func withExchange(ctx context.Context) context.Context {
	return context.WithValue(ctx, exchangeKey{}, &exchange{})
}

// exchangeOf returns the exchange whose transaction ctx is in, if any.
func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.begun {
		return nil
	}
	return x
}

// begin opens the exchange's transaction: nothing is sent to the store.
func (x *exchange) begin() bool {
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.begun {
		return false
	}
	x.begun, x.code = true, ""
	return true
}

// use notes the code to use at the commit.
func (x *exchange) use(signature string) {
	x.mu.Lock()
	x.code = signature
	x.mu.Unlock()
}

// end closes the exchange's transaction and returns the code it used.
func (x *exchange) end() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.begun = false
	return x.code
}

// codeDrops are a code's records that go with its exchange.
var codeDrops = []Kind{KindPKCE, KindOIDC}

// commitExchange writes what the exchange's transaction decided.
func (s *fositeStorage) commitExchange(ctx context.Context, x *exchange) error {
	code := x.end()
	recs, err := cacheOf(ctx).takeDeferred()
	if err != nil {
		return err
	}
	if code == "" {
		return errors.New("oauth: a code's exchange that used no code") // fosite always uses it
	}
	err = s.store.UseRecord(ctx, KindCode, code, codeDrops, recs)
	for _, rec := range recs {
		s.created(ctx, rec, err)
	}
	if errors.Is(err, ErrNotActive) {
		return errCodeUsedAtOnce
	}
	if err == nil {
		cacheOf(ctx).droppedWith(code)
	}
	return err
}
