package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kelisim/kelisim/oauth"
)

// The operator's monitoring, as shipped in deploy/monitoring: the alert
// rules parse as Prometheus itself parses them (promtool check rules), the
// dashboard's queries parse as PromQL, both cover what an operator must
// watch, and every metric they name is one a real gateway exports, with
// the values its events gave them.
func TestMonitoring(t *testing.T) {
	promql := parser.NewParser(parser.Options{})
	named := map[string][]string{} // metric → where it is used
	use := func(where, expr string) {
		t.Helper()
		// Grafana's variables, as Grafana fills them in.
		expr = strings.NewReplacer("$__rate_interval", "1m", "$__range", "6h", "$instance", ".*").Replace(expr)
		e, err := promql.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
			return
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if v, ok := n.(*parser.VectorSelector); ok {
				named[v.Name] = append(named[v.Name], where)
			}
			return nil
		})
	}

	raw, err := os.ReadFile("../../deploy/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(raw, false, model.UTF8Validation, promql, nil)
	if len(errs) > 0 {
		t.Fatalf("alerts.yaml: %v", errs)
	}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("alert %s: severity %q", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: no summary or description to act on", r.Alert)
			}
			use("alert "+r.Alert, r.Expr)
		}
	}
	for _, a := range []string{"KelisimDeadLetters", "KelisimSMSProviderFailing", "KelisimNotReady", "KelisimDown",
		"KelisimDeletionConfirmationsOverdue", "KelisimHistoryTampered"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}

	raw, err = os.ReadFile("../../deploy/monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title, UID string
		Panels     []struct {
			Type, Title, Description string
			GridPos                  struct{ H, W, X, Y int }
			Targets                  []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil || dash.UID == "" || dash.Title == "" {
		t.Fatalf("dashboard.json: %v (uid %q)", err, dash.UID)
	}
	panelled := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Description == "" || p.GridPos.W == 0 || p.GridPos.H == 0 || len(p.Targets) == 0 {
			t.Errorf("panel %q: a title, a description, a place and a query, each needed", p.Title)
		}
		for _, q := range p.Targets {
			use("panel "+p.Title, q.Expr)
		}
	}
	for m, where := range named {
		for _, w := range where {
			if strings.HasPrefix(w, "panel ") {
				panelled[m] = true
			}
		}
	}
	// What the operator must see on the dashboard.
	for _, m := range []string{"kelisim_http_request_duration_seconds_count", "kelisim_http_request_duration_seconds_bucket",
		"kelisim_oauth_errors_total", "kelisim_otp_events_total", "kelisim_deliveries_total", "kelisim_store_operation_duration_seconds_bucket",
		"kelisim_partner_cache_listening", "kelisim_ready"} {
		if !panelled[m] {
			t.Errorf("the dashboard shows no %s", m)
		}
	}

	// A gateway on PostgreSQL whose push partner's webhook fails: a consent
	// (a code sent, a right code), its push dead-lettered, an OAuth error, a
	// readiness check.
	g, hook, hookURL := failingPush(t)
	p := g.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	hook.waitAttempts(t, 1)
	if resp, _ := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"password"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a grant type not offered: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "GET", "/readyz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	var families map[string]bool
	var values map[string]float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		families, values = scrape(t, g.metrics+"/metrics")
		if values[`kelisim_deliveries_total{kind="grant.documents",outcome="dead"}`] == 1 || time.Now().After(deadline) {
			break
		}
	}
	for m, where := range named {
		base := m
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && families[b] {
				base = b
			}
		}
		if !families[base] && m != "up" { // up is Prometheus's own
			t.Errorf("%s, used by %s, is not exported", m, strings.Join(slices.Compact(where), ", "))
		}
	}
	for series, want := range map[string]float64{
		`kelisim_otp_events_total{event="sent"}`:                          1,
		`kelisim_otp_events_total{event="right"}`:                         1,
		`kelisim_otp_events_total{event="send_failed"}`:                   0,
		`kelisim_deliveries_total{kind="grant.documents",outcome="dead"}`: 1,
		`kelisim_ready`:                   1,
		`kelisim_partner_cache_listening`: 1,
	} {
		if got, ok := values[series]; !ok || got != want {
			t.Errorf("%s = %v (exported: %v), want %v", series, got, ok, want)
		}
	}
}

// scrape reads a metrics page: the families it declares, and each
// series' value.
func scrape(t *testing.T, url string) (map[string]bool, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families, values := map[string]bool{}, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families[strings.Fields(rest)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			values[line[:i]] = v
		}
	}
	return families, values
}
