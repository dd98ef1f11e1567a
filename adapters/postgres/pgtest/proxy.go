package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy stands between the gateway and PostgreSQL, so a test can take the
// database away: Down refuses connections and breaks the open ones (a
// server that stopped), Freeze keeps connections open but passes nothing
// (a server or network that hangs), Up restores it.
type Proxy struct {
	t        *testing.T
	upstream string
	mu       sync.Mutex
	ln       net.Listener
	addr     string
	frozen   chan struct{} // closed while passing; a fresh one while frozen
	passing  bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64 // chunks passed from clients to the server
}

// NewProxy returns a running proxy to the server of dbURL, and dbURL
// rewritten to go through it. It stops when the test ends.
func NewProxy(t *testing.T, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, upstream: u.Host, conns: map[net.Conn]struct{}{}, passing: true, frozen: make(chan struct{})}
	close(p.frozen)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(func() {
		p.Down()
		p.wg.Wait()
	})
	u.Host = p.addr
	return p, u.String()
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.forget(c)
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.forget(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c, &p.sent); done <- struct{}{} }()
	go func() { p.pipe(c, up, nil); done <- struct{}{} }()
	<-done
}

// Sent is how many chunks clients have sent the server through the proxy:
// a client that writes each round trip's messages at once (pgx does) sends
// a chunk per round trip, when it waits for each answer.
func (p *Proxy) Sent() int64 { return p.sent.Load() }

// pipe copies src to dst chunk by chunk, holding each chunk while frozen,
// and counts the chunks in count, if given.
func (p *Proxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			<-frozen
			// Counted before it is passed on: the answer to it, and the
			// client's return, cannot come before the count.
			if count != nil {
				count.Add(1)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = dst.Close()
			}
			return
		}
	}
}

func (p *Proxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Down stops listening (new connections are refused) and closes every
// open connection.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.unfreezeLocked()
}

// Freeze keeps accepting and keeps connections open, but passes nothing
// until Up.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.passing {
		p.frozen, p.passing = make(chan struct{}), false
	}
}

// Up listens again on the same address and passes traffic.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unfreezeLocked()
	if p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
		}
		p.ln = ln
		p.wg.Add(1)
		go p.accept(ln)
	}
}

// unfreezeLocked lets held chunks through; closed connections drop them.
func (p *Proxy) unfreezeLocked() {
	if !p.passing {
		close(p.frozen)
		p.passing = true
	}
}
