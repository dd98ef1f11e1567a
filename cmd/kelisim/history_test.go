package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
)

// sealedHistory is a gateway that seals the history every 200 ms.
func sealedHistory(t *testing.T, db string) *gw {
	return startWith(t, options{db: db, consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_CHECKPOINT_EVERY": "200ms", "KELISIM_HISTORY_SETTLE": "1ms"}})
}

// waitForHead waits until a head of at least size is published.
func waitForHead(t *testing.T, g *gw, size int64) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, cp := g.do(t, "GET", "/history/checkpoints/latest", nil, nil)
		if n, _ := cp["tree_size"].(float64); int64(n) >= size {
			return int64(n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no head of size %d was published: %v", size, cp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exportHistory downloads the citizen's history from the settings page.
func exportHistory(t *testing.T, g *gw, br *browser, dir string) string {
	t.Helper()
	resp, err := br.client.Get(g.base + "/my/history/export")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("the export: %d %s", resp.StatusCode, raw)
	}
	file := filepath.Join(dir, time.Now().Format("150405.000000")+".json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// The citizen's history is sealed into the public log: the export from
// the settings page verifies with `kelisim history verify` against the
// published heads; a row edited, deleted or moved directly in PostgreSQL
// is caught by the verifier and by the next round's self-check, which
// logs it, raises the metric and publishes no head over it.
func TestHistoryLogEndToEnd(t *testing.T) {
	db := pgtestURL(t)
	g := sealedHistory(t, db)
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card documents:driver_license")
	for _, doc := range []string{"id_card", "driver_license", "id_card"} {
		if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/"+doc); resp.StatusCode != http.StatusOK {
			t.Fatalf("fetch %s: %d", doc, resp.StatusCode)
		}
	}
	size := waitForHead(t, g, 4) // the consent and three fetches
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	if !strings.Contains(home.body, `href="/my/history/export"`) {
		t.Error("the settings page offers no history export")
	}
	dir := t.TempDir()
	file := exportHistory(t, g, br, dir)
	out, err := runCLI(t, "history", "verify", file)
	if err != nil || !strings.HasPrefix(out, "valid: 4 entries") {
		t.Fatalf("verify the history: %v\n%s", err, out)
	}
	var x consent.HistoryExport
	raw, _ := os.ReadFile(file)
	_ = json.Unmarshal(raw, &x)
	if strings.Contains(string(raw), aidarIIN) {
		t.Error("the export names the citizen by IIN: the log's leaves carry pseudonyms only")
	}

	// More history, a later head: the old export still verifies, extended.
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Fatal("fetch")
	}
	waitForHead(t, g, size+1)
	if out, err := runCLI(t, "history", "verify", file); err != nil || !strings.Contains(out, "extends") {
		t.Errorf("the earlier export under a later head: %v\n%s", err, out)
	}

	conn := dbConn(t, g)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, x.Chain); err != nil {
			t.Fatal(err)
		}
	}
	invalid := func(what, want string) {
		t.Helper()
		out, err := runCLI(t, "history", "verify", exportHistory(t, g, br, dir))
		var exit exitError
		if !errors.As(err, &exit) || exit.code != exitInvalid || !strings.Contains(out, want) {
			t.Errorf("%s: %v\n%s", what, err, out)
		}
	}
	const metric = "kelisim_history_tamper_detected_total"
	tamperCount := func() string {
		_, body := getBody(t, g.metrics+"/metrics")
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, metric+" ") {
				return strings.TrimPrefix(line, metric+" ")
			}
		}
		return ""
	}
	if n := tamperCount(); n != "0" {
		t.Fatalf("%s before any edit: %q", metric, n)
	}

	// An edit: the fetch of an id card becomes a diploma's.
	exec(`UPDATE access_events SET document_type = 'diploma'
		WHERE id = (SELECT e.id FROM history_leaves l JOIN access_events e ON e.id = l.event_id AND e.at = l.at
			WHERE l.chain = $1 AND e.kind = 'fetch' ORDER BY l.leaf_index LIMIT 1)`)
	invalid("an edited row", "is not in the signed head")
	deadline := time.Now().Add(10 * time.Second)
	for tamperCount() == "0" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := tamperCount(); n == "0" || !strings.Contains(g.logs.String(), "history tampered") {
		t.Errorf("the self-check did not report the edit: %s %q", metric, n)
	}
	before := waitForHead(t, g, 0)
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Fatal("fetch")
	}
	time.Sleep(time.Second)
	if after := waitForHead(t, g, 0); after != before {
		t.Errorf("a head (size %d) was published over the edited history (size %d)", after, before)
	}
	exec(`UPDATE access_events SET document_type = 'id_card'
		WHERE id IN (SELECT event_id FROM history_leaves WHERE chain = $1) AND document_type = 'diploma'`)

	if out, err := runCLI(t, "history", "verify", exportHistory(t, g, br, dir)); err != nil {
		t.Fatalf("the history put back: %v\n%s", err, out)
	}

	// Two rows swapped in the log's order.
	const swap = `WITH two AS (SELECT leaf_index, event_id, at FROM history_leaves WHERE chain = $1 ORDER BY leaf_index LIMIT 2)
		UPDATE history_leaves l SET event_id = o.event_id, at = o.at FROM two w, two o
		WHERE l.leaf_index = w.leaf_index AND o.leaf_index <> w.leaf_index`
	exec(swap)
	invalid("two rows swapped", "is not in the signed head")
	exec(swap)

	// A row removed: the entries after it no longer hash as sealed.
	exec(`DELETE FROM access_events WHERE id = (SELECT e.id FROM history_leaves l JOIN access_events e ON e.id = l.event_id AND e.at = l.at
		WHERE l.chain = $1 AND e.kind = 'fetch' ORDER BY l.leaf_index LIMIT 1 OFFSET 1)`)
	invalid("a removed row", "is not in the signed head")
}
