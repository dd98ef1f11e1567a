package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// The operator's commands that work through a running gateway's admin
// API (partners, deliveries, keys): each is one call of the API, audited
// there as the call is, and every replica learns of it as it learns of
// the API's changes. They print tables for people and, with --json, the
// API's own answer.

const operatorUsage = `usage:
  kelisim partners list | show ID | create --file FILE | suspend ID | resume ID | rotate-secret ID [--grace 24h]
  kelisim deliveries list [--status dead|pending|delivered] [--limit 100] | replay ID
  kelisim keys rotate
flags of every one: --json (the API's answer as JSON), --url URL (the admin API; default
KELISIM_ADMIN_URL, else http:// and KELISIM_ADMIN_ADDR, else KELISIM_ADDR); the token is KELISIM_ADMIN_TOKEN`

// operatorCommand runs "kelisim <group> <verb> …" for group partners,
// deliveries or keys.
func operatorCommand(ctx context.Context, group string, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError(fmt.Sprintf("kelisim %s needs a command\n%s", group, operatorUsage))
	}
	verb := args[0]
	fs := flag.NewFlagSet("kelisim "+group+" "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the API's answer as JSON")
	base := fs.String("url", "", "the admin API's base URL")
	file := fs.String("file", "", "the registration (JSON; - for standard input)")
	grace := fs.Duration("grace", 0, "how long the old secret keeps working")
	status := fs.String("status", string(consent.OutboxDead), "which deliveries")
	limit := fs.Int("limit", 100, "how many deliveries at most")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return usageError(fmt.Sprintf("kelisim %s %s: %v\n%s", group, verb, err, operatorUsage))
	}
	one := func() (string, error) {
		if len(pos) != 1 || pos[0] == "" {
			return "", usageError(fmt.Sprintf("kelisim %s %s needs one id\n%s", group, verb, operatorUsage))
		}
		return url.PathEscape(pos[0]), nil
	}
	none := func() error {
		if len(pos) != 0 {
			return usageError(fmt.Sprintf("kelisim %s %s takes no %q\n%s", group, verb, pos[0], operatorUsage))
		}
		return nil
	}
	// Each command is one call: what it sends, and how its answer is shown.
	// The arguments are checked here, before anything is sent.
	var method, path string
	var body []byte
	var show func([]byte, *tabwriter.Writer) error
	var id string
	switch group + " " + verb {
	case "partners list":
		err = none()
		method, path, show = "GET", "/partners", showPartners
	case "partners show":
		id, err = one()
		method, path, show = "GET", "/partners/"+id, showPartner
	case "partners suspend", "partners resume":
		id, err = one()
		method, path, show = "POST", "/partners/"+id+"/"+verb, showPartner
	case "partners create":
		if err = none(); err == nil && *file == "" {
			err = usageError("kelisim partners create needs --file FILE: the registration, as POST /admin/v1/partners takes it (- for standard input)")
		}
		if err == nil {
			body, err = readInput(*file)
		}
		method, path, show = "POST", "/partners", showPartner
	case "partners rotate-secret":
		id, err = one()
		if err == nil && (*grace < 0 || *grace%time.Second != 0) {
			err = usageError("--grace must be whole seconds, not negative (e.g. 24h; 0 ends the old secret at once)")
		}
		body, _ = json.Marshal(map[string]int{"grace_seconds": int(grace.Seconds())})
		method, path, show = "POST", "/partners/"+id+"/secret", showPartner
	case "deliveries list":
		err = none()
		q := url.Values{"status": {*status}, "limit": {fmt.Sprint(*limit)}}
		method, path, show = "GET", "/deliveries?"+q.Encode(), showDeliveries
	case "deliveries replay":
		id, err = one()
		method, path, show = "POST", "/deliveries/"+id+"/replay", showDelivery
	case "keys rotate":
		err = none()
		method, path, show = "POST", "/keys/rotate", showKey
	default:
		return usageError(fmt.Sprintf("unknown command kelisim %s %s\n%s", group, verb, operatorUsage))
	}
	if err != nil {
		return err
	}
	c, err := newAdminClient(*base, getenv)
	if err != nil {
		return err
	}
	raw, err := c.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if *asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return fmt.Errorf("the gateway answered what is not JSON: %w", err)
		}
		out.WriteByte('\n')
		_, err := stdout.Write(out.Bytes())
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if err := show(raw, w); err != nil {
		return fmt.Errorf("the gateway's answer: %w", err)
	}
	return w.Flush()
}

// parseInterleaved parses flags wherever they are among the arguments
// ("suspend ID --json" as "suspend --json ID") and returns the rest.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	}
	return os.ReadFile(name)
}

func showPartners(raw []byte, w *tabwriter.Writer) error {
	var page struct{ Partners []partners.Partner }
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
	partnerHeader(w)
	for _, p := range page.Partners {
		partnerRow(w, p)
	}
	return nil
}

func showDeliveries(raw []byte, w *tabwriter.Writer) error {
	var page struct{ Deliveries []consent.OutboxEntry }
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
	deliveryHeader(w)
	for _, e := range page.Deliveries {
		deliveryRow(w, e)
	}
	return nil
}

func showDelivery(raw []byte, w *tabwriter.Writer) error {
	var e consent.OutboxEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return err
	}
	deliveryHeader(w)
	deliveryRow(w, e)
	return nil
}

func showKey(raw []byte, w *tabwriter.Writer) error {
	var k struct{ KID, Status string }
	if err := json.Unmarshal(raw, &k); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "new signing key %s %s\n", k.KID, k.Status)
	return err
}

func partnerHeader(w io.Writer) {
	fmt.Fprintln(w, "CLIENT ID\tNAME\tSTATUS\tPROFILE\tAUTHENTICATION\tDOCUMENTS\tVERSION\tUPDATED")
}

func partnerRow(w io.Writer, p partners.Partner) {
	docs := make([]string, len(p.Documents))
	for i, d := range p.Documents {
		docs[i] = string(d)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", p.ID, orDash(p.ClientName), p.Status, orDash(p.Profile),
		orDash(p.TokenEndpointAuthMethod), orDash(strings.Join(docs, ",")), p.Version, p.UpdatedAt.UTC().Format(time.RFC3339))
}

// showPartner prints a partner, and the client secret when the answer
// holds one: it is shown this once.
func showPartner(raw []byte, w *tabwriter.Writer) error {
	var p struct {
		partners.Partner
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	partnerHeader(w)
	partnerRow(w, p.Partner)
	if p.ClientSecret != "" {
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nclient secret (shown this once; give it to the partner now): %s\n", p.ClientSecret)
	}
	return nil
}

func deliveryHeader(w io.Writer) {
	fmt.Fprintln(w, "ID\tCLIENT ID\tKIND\tDOCUMENT\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
}

func deliveryRow(w io.Writer, e consent.OutboxEntry) {
	next := "-"
	if e.Status == consent.OutboxPending {
		next = e.NextAttemptAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.PartnerID, e.Kind, orDash(string(e.Document)), e.Status, e.Attempts, next,
		orDash(strings.ReplaceAll(e.LastError, "\t", " ")))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// adminClient calls one gateway's admin API with the admin token.
type adminClient struct {
	base, token string
	http        *http.Client
}

func newAdminClient(base string, getenv func(string) string) (*adminClient, error) {
	if base == "" {
		base = getenv("KELISIM_ADMIN_URL")
	}
	if base == "" {
		addr := getenv("KELISIM_ADMIN_ADDR")
		if addr == "" {
			addr = getenv("KELISIM_ADDR")
		}
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fmt.Sprintf("the admin API's URL %q is not an http(s) URL", base))
	}
	token := getenv("KELISIM_ADMIN_TOKEN")
	if token == "" {
		return nil, usageError("KELISIM_ADMIN_TOKEN is needed: the admin API's bearer token")
	}
	return &adminClient{base: strings.TrimSuffix(base, "/") + "/admin/v1", token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call sends one request and returns the answer's body, or the problem
// the gateway answered as an error.
func (c *adminClient) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("the admin API at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return raw, nil
	}
	var p httpapi.Problem
	if json.Unmarshal(raw, &p) != nil || p.Title == "" {
		return nil, fmt.Errorf("%s %s: %s", method, c.base+path, resp.Status)
	}
	msg := fmt.Sprintf("%s (%d)", p.Title, resp.StatusCode)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	for _, f := range p.Errors {
		msg += fmt.Sprintf("\n  %s: %s", f.Field, f.Message)
	}
	if p.RequestID != "" {
		msg += "\n  (request " + p.RequestID + ")"
	}
	return nil, errors.New(msg)
}

// usageError is a command used wrongly: exit status 2, as flag parsing's.
func usageError(msg string) error { return exitError{code: 2, msg: msg} }
