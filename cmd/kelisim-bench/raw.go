package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// rawConn is one worker's keep-alive HTTP/1.1 connection for the steady
// scenarios: the request bytes are written as they are and the answer is
// read on the same goroutine. It costs the shared machine far less than
// net/http's client (no connection pool, no reader and writer goroutines
// per connection, no timers), so more of the two cores are left to what
// is measured. Responses are parsed by net/http (lengths, chunking).
type rawConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func newRawConn(base string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: u.Host}, nil
}

// do sends req (a complete HTTP/1.1 request) and returns the status and
// body of the answer; it reconnects once when the connection was closed.
func (c *rawConn) do(ctx context.Context, req []byte) (int, []byte, http.Header, error) {
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", c.addr)
			if err != nil {
				return 0, nil, nil, err
			}
			c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
		}
		if d, ok := ctx.Deadline(); ok {
			_ = c.conn.SetDeadline(d)
		}
		status, body, h, err := c.roundTrip(req)
		if err == nil {
			return status, body, h, nil
		}
		c.close()
		if attempt > 0 || ctx.Err() != nil {
			return 0, nil, nil, err
		}
	}
}

func (c *rawConn) roundTrip(req []byte) (int, []byte, http.Header, error) {
	if _, err := c.conn.Write(req); err != nil {
		return 0, nil, nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, body, resp.Header, nil
}

func (c *rawConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// rawForm is a POST of a form with the partner's basic authentication,
// and a DPoP proof when proof is set.
func rawForm(host, path string, p partner, form url.Values, proof string) []byte {
	body := form.Encode()
	auth := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(p.id) + ":" + url.QueryEscape(p.secret)))
	dpop := ""
	if proof != "" {
		dpop = "DPoP: " + proof + "\r\n"
	}
	return []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n%s"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", path, host, auth, dpop, len(body), body))
}

// rawGet is a GET with a bearer token.
func rawGet(host, path, token string) []byte {
	return []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", path, host, token))
}

func hostOf(base string) string {
	u, _ := url.Parse(base)
	return strings.TrimSpace(u.Host)
}
