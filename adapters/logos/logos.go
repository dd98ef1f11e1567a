// Package logos fetches partners' logos for the consent pages, so that a
// page loads nothing from third parties: only small raster images pass.
package logos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"
)

// MaxBytes bounds a logo.
const MaxBytes = 256 << 10

// Types are the media types a logo may have.
var Types = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// ErrNotALogo: the partner's server did not answer with a small raster
// image.
var ErrNotALogo = errors.New("not a logo")

// Fetcher fetches logos over HTTP.
type Fetcher struct{ client *http.Client }

// New returns a fetcher that gives a partner's server timeout to answer.
func New(timeout time.Duration) *Fetcher { return &Fetcher{client: &http.Client{Timeout: timeout}} }

// Fetch returns the logo at url and its media type.
func (f *Fetcher) Fetch(ctx context.Context, url string) (string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNotALogo, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !slices.Contains(Types, ct) {
		return "", nil, fmt.Errorf("%w: status %d, type %q", ErrNotALogo, resp.StatusCode, ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return "", nil, err
	}
	if len(body) > MaxBytes {
		return "", nil, fmt.Errorf("%w: over %d bytes", ErrNotALogo, MaxBytes)
	}
	return ct, body, nil
}
