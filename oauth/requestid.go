package oauth

import "github.com/google/uuid"

// newRequestID names a new authorization, the family its code and tokens
// share, with an ID that grows with time (UUIDv7, RFC 9562) in place of
// fosite's random one. Every code and token is indexed by it
// (oauth_records_request_idx): random keys put each insert on a leaf
// anywhere in that index, and on a big table the first change to a leaf
// after a checkpoint writes the whole page to the WAL, about one page image
// per stored token (SCALE.md). IDs that grow with time land on the index's
// newest leaves. The ID is an internal key, never shown to a partner; its
// 62 random bits (beside the millisecond and a 12-bit sequence within it)
// keep two replicas' IDs apart.
func newRequestID() string { return uuid.Must(uuid.NewV7()).String() }
