package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelisim/kelisim/consent"
)

// kelisim receipt verify: anybody holding a consent receipt checks it
// with nothing but the gateway's published JWKS, and asks the gateway
// whether a later receipt of the same grant superseded it.

// exitError ends the program with its own exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// Exit codes of kelisim receipt verify.
const (
	exitInvalid    = 1
	exitSuperseded = 3
)

func receiptCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: kelisim receipt verify [-issuer URL] [-jwks FILE] FILE")
	}
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	issuer := fs.String("issuer", "", "the gateway that must have signed it (default: the receipt's iss)")
	jwksFile := fs.String("jwks", "", "a JWKS file to verify with, offline (the status is then not asked)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
		return errors.New("usage: kelisim receipt verify [-issuer URL] [-jwks FILE] FILE")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	r, err := verifyReceipt(ctx, strings.TrimSpace(string(raw)), *issuer, *jwksFile)
	if err != nil {
		fmt.Fprintln(stdout, "invalid:", err)
		return exitError{exitInvalid, "the receipt is invalid"}
	}
	what := fmt.Sprintf("receipt %s of grant %s: %s at %s, %s with %s", r.ID, r.GrantID, r.Event,
		time.Unix(r.IssuedAt, 0).UTC().Format(time.RFC3339), r.Status, r.Controller.Name)
	switch {
	case r.supersededBy != "":
		fmt.Fprintf(stdout, "superseded: %s; superseded by receipt %s\n", what, r.supersededBy)
		return exitError{exitSuperseded, "the receipt was superseded"}
	case r.offline:
		fmt.Fprintf(stdout, "valid: %s (signature checked offline; whether it is current was not asked)\n", what)
	default:
		fmt.Fprintf(stdout, "valid: %s; current\n", what)
	}
	return nil
}

// receipt is what a verified receipt says, as far as the verifier shows.
type receipt struct {
	jwt.Claims
	ID         string `json:"jti"`
	GrantID    string `json:"grant_id"`
	Event      string `json:"event"`
	Status     string `json:"status"`
	IssuedAt   int64  `json:"iat"`
	Version    string `json:"receipt_version"`
	Controller struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"controller"`

	supersededBy string
	offline      bool
}

// verifyReceipt checks a receipt's signature against the issuer's JWKS (or
// a given file) and asks the issuer whether it is still current.
func verifyReceipt(ctx context.Context, compact, issuer, jwksFile string) (receipt, error) {
	tok, err := jwt.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return receipt{}, fmt.Errorf("not a signed receipt: %w", err)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != consent.TypeReceipt {
		return receipt{}, fmt.Errorf("not a Kelisim consent receipt: typ %q", typ)
	}
	var unverified receipt
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return receipt{}, err
	}
	if issuer == "" {
		issuer = unverified.Issuer
	}
	if unverified.Issuer != strings.TrimRight(issuer, "/") {
		return receipt{}, fmt.Errorf("issued by %q, not by %q", unverified.Issuer, issuer)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var jwks jose.JSONWebKeySet
	if jwksFile != "" {
		raw, err := os.ReadFile(jwksFile)
		if err != nil {
			return receipt{}, err
		}
		if err := json.Unmarshal(raw, &jwks); err != nil {
			return receipt{}, fmt.Errorf("the JWKS file: %w", err)
		}
	} else if err := getJSON(ctx, client, issuer+"/.well-known/jwks.json", &jwks); err != nil {
		return receipt{}, fmt.Errorf("the issuer's JWKS: %w", err)
	}
	var r receipt
	if err := tok.Claims(jwks, &r); err != nil {
		return receipt{}, fmt.Errorf("the signature does not verify with the issuer's keys: %w", err)
	}
	if r.Version != consent.ReceiptVersion || r.ID == "" || r.GrantID == "" {
		return receipt{}, fmt.Errorf("not a %s receipt", consent.ReceiptVersion)
	}
	if jwksFile != "" {
		r.offline = true
		return r, nil
	}
	var st consent.ReceiptStatus
	if err := getJSON(ctx, client, issuer+"/receipts/"+r.ID, &st); err != nil {
		return receipt{}, fmt.Errorf("the issuer does not know the receipt: %w", err)
	}
	if st.Status == "superseded" {
		r.supersededBy = st.SupersededBy
	}
	return r, nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
