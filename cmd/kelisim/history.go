package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

// kelisim history verify: a citizen (or anybody they give the file to)
// checks an export of their history against the heads the gateway
// publishes: every entry follows the one before in the citizen's chain,
// is in the tree of a signed, published head, and that head is extended
// by the latest one.

func historyCommand(ctx context.Context, args []string, stdout io.Writer) error {
	usage := errors.New("usage: kelisim history verify [-issuer URL] FILE")
	if len(args) == 0 || args[0] != "verify" {
		return usage
	}
	fs := flag.NewFlagSet("history verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	issuer := fs.String("issuer", "", "the gateway whose heads it must be under (default: the export's issuer)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
		return usage
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	msg, err := verifyHistory(ctx, raw, *issuer)
	if err != nil {
		fmt.Fprintln(stdout, "invalid:", err)
		return exitError{exitInvalid, "the history does not verify"}
	}
	fmt.Fprintln(stdout, "valid:", msg)
	return nil
}

// head is a verified signed head.
type head struct {
	Size int64  `json:"tree_size"`
	Root string `json:"root_hash"` // base64
	Iss  string `json:"iss"`
	root []byte
}

func verifyHistory(ctx context.Context, raw []byte, issuer string) (string, error) {
	var x consent.HistoryExport
	if err := json.Unmarshal(raw, &x); err != nil || x.Format != consent.HistoryFormat {
		return "", fmt.Errorf("not a %s export", consent.HistoryFormat)
	}
	if issuer == "" {
		issuer = x.Issuer
	}
	issuer = strings.TrimRight(issuer, "/")
	client := &http.Client{Timeout: 10 * time.Second}
	var jwks jose.JSONWebKeySet
	if err := getJSON(ctx, client, issuer+"/.well-known/jwks.json", &jwks); err != nil {
		return "", fmt.Errorf("the issuer's JWKS: %w", err)
	}
	if x.Checkpoint == "" {
		if len(x.Entries) > 0 {
			return "", errors.New("entries without a head")
		}
		return "no entries yet: the history is sealed within minutes", nil
	}
	signed, err := verifyHead(x.Checkpoint, issuer, jwks)
	if err != nil {
		return "", fmt.Errorf("the export's head: %w", err)
	}
	// Every entry: in the chain, after the one before, in the head's tree.
	// The first may follow the chain's last leaf of the months retention
	// dropped, itself in the tree.
	prev, last := "", int64(-1)
	if r := x.Retained; r != nil {
		if err := merkle.VerifyInclusion(r.Index, signed.Size, r.Hash, r.Proof, signed.root); err != nil {
			return "", fmt.Errorf("the last leaf before retention (leaf %d) is not in the signed head of size %d", r.Index, signed.Size)
		}
		prev, last = hex.EncodeToString(r.Hash), r.Index
	}
	for i, e := range x.Entries {
		var leaf consent.Leaf
		if err := json.Unmarshal(e.Leaf, &leaf); err != nil {
			return "", fmt.Errorf("entry %d is not a leaf", i)
		}
		switch {
		case leaf.Chain != x.Chain:
			return "", fmt.Errorf("entry %d (leaf %d) is another chain's", i, e.Index)
		case leaf.Prev != prev:
			return "", fmt.Errorf("entry %d (leaf %d) does not follow the entry before it: one is missing, moved or altered", i, e.Index)
		case e.Index <= last:
			return "", fmt.Errorf("entry %d (leaf %d) is out of order", i, e.Index)
		}
		h := merkle.LeafHash(e.Leaf)
		if err := merkle.VerifyInclusion(e.Index, signed.Size, h, e.Proof, signed.root); err != nil {
			return "", fmt.Errorf("entry %d (leaf %d, %s at %s) is not in the signed head of size %d: it was altered", i, e.Index, leaf.Kind, leaf.At, signed.Size)
		}
		prev, last = hex.EncodeToString(h), e.Index
	}
	// The head is published, and the latest head extends it.
	var published, latest struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := getJSON(ctx, client, issuer+"/history/checkpoints/"+strconv.FormatInt(signed.Size, 10), &published); err != nil {
		return "", fmt.Errorf("the head of size %d is not published: %w", signed.Size, err)
	}
	if p, err := verifyHead(published.Checkpoint, issuer, jwks); err != nil || p.Root != signed.Root {
		return "", fmt.Errorf("the published head of size %d differs from the export's", signed.Size)
	}
	if err := getJSON(ctx, client, issuer+"/history/checkpoints/latest", &latest); err != nil {
		return "", fmt.Errorf("the latest head: %w", err)
	}
	newest, err := verifyHead(latest.Checkpoint, issuer, jwks)
	if err != nil {
		return "", fmt.Errorf("the latest head: %w", err)
	}
	if newest.Size > signed.Size {
		var c struct {
			Proof [][]byte `json:"proof"`
		}
		url := fmt.Sprintf("%s/history/consistency?first=%d&second=%d", issuer, signed.Size, newest.Size)
		if err := getJSON(ctx, client, url, &c); err != nil {
			return "", fmt.Errorf("the consistency proof: %w", err)
		}
		if err := merkle.VerifyConsistency(signed.Size, newest.Size, signed.root, newest.root, c.Proof); err != nil {
			return "", fmt.Errorf("the latest head (size %d) does not extend the export's (size %d): the log was rewritten", newest.Size, signed.Size)
		}
	}
	after := ""
	if x.Retained != nil {
		// The verifier cannot tell a cut from an omission: it says where the chain starts.
		after = fmt.Sprintf(" (following leaf %d, the chain's last of the months retention dropped)", x.Retained.Index)
	}
	return fmt.Sprintf("%d entries of chain %s%s are in the signed head of size %d, which the latest published head (size %d) extends",
		len(x.Entries), x.Chain, after, signed.Size, newest.Size), nil
}

// verifyHead checks a signed head with the issuer's keys.
func verifyHead(compact, issuer string, jwks jose.JSONWebKeySet) (head, error) {
	sig, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return head{}, err
	}
	if typ, _ := sig.Signatures[0].Protected.ExtraHeaders["typ"].(string); typ != consent.TypeCheckpoint {
		return head{}, fmt.Errorf("not a signed head: typ %q", typ)
	}
	kid := sig.Signatures[0].Header.KeyID
	keys := jwks.Key(kid)
	if len(keys) == 0 {
		return head{}, fmt.Errorf("no published key %q", kid)
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		return head{}, fmt.Errorf("the signature does not verify: %w", err)
	}
	var h head
	if err := json.Unmarshal(payload, &h); err != nil {
		return head{}, err
	}
	if h.Iss != issuer {
		return head{}, fmt.Errorf("signed by %q, not %q", h.Iss, issuer)
	}
	if h.root, err = base64.StdEncoding.DecodeString(h.Root); err != nil || len(h.root) != merkle.HashSize {
		return head{}, errors.New("a head without a root hash")
	}
	return h, nil
}
