// Package registry holds the citizen registries: the embedded demo registry
// loaded from citizens.json, and an HTTP client for a state system.
package registry

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kelisim/kelisim/consent"
)

//go:embed citizens.json
var demoData []byte

// record is one citizen as the data file and the HTTP registry write it.
type record struct {
	IIN        string     `json:"iin"`
	Name       string     `json:"name"`
	Phone      string     `json:"phone,omitempty"`
	Represents []string   `json:"represents,omitempty"`
	Documents  []document `json:"documents,omitempty"`
}

// document is one document as the data file and the HTTP source write it.
type document struct {
	Type      consent.DocumentType `json:"type"`
	Number    string               `json:"number"`
	Issued    string               `json:"issued"`
	Expires   string               `json:"expires,omitempty"`
	Authority string               `json:"authority"`
	Fields    map[string]string    `json:"fields,omitempty"`
	// Status is "revoked" for a document its issuer annulled.
	Status string `json:"status,omitempty"`
	// Signed is the document as its authority signed it: what the HTTP
	// source must send; the demo registry signs its own.
	Signed string `json:"signed,omitempty"`
}

func (d document) forHolder(holder consent.Holder) (consent.Document, error) {
	if !d.Type.Valid() {
		return consent.Document{}, fmt.Errorf("unknown document type %q", d.Type)
	}
	for _, date := range []string{d.Issued, d.Expires} {
		if _, err := time.Parse(time.DateOnly, date); date != "" && err != nil {
			return consent.Document{}, fmt.Errorf("document %s: bad date %q", d.Type, date)
		}
	}
	if d.Status != "" && d.Status != consent.StatusRevoked {
		return consent.Document{}, fmt.Errorf("document %s: status %q is not revoked", d.Type, d.Status)
	}
	return consent.Document{Type: d.Type, Number: d.Number, Issued: d.Issued, Expires: d.Expires,
		Authority: d.Authority, Fields: d.Fields, Holder: holder, Status: d.Status, Signed: d.Signed}, nil
}

func (r record) citizen() (consent.Citizen, error) {
	iin, err := consent.ParseIIN(r.IIN)
	if err != nil {
		return consent.Citizen{}, fmt.Errorf("citizen %q: %w", r.IIN, err)
	}
	c := consent.Citizen{IIN: iin, Name: r.Name}
	if r.Phone != "" {
		if c.Phone, err = consent.ParsePhone(r.Phone); err != nil {
			return consent.Citizen{}, fmt.Errorf("citizen %s: %w", iin.Masked(), err)
		}
	}
	for _, m := range r.Represents {
		minor, err := consent.ParseIIN(m)
		if err != nil {
			return consent.Citizen{}, fmt.Errorf("citizen %s represents %q: %w", iin.Masked(), m, err)
		}
		c.Represents = append(c.Represents, minor)
	}
	return c, nil
}

// Demo is the embedded demo registry and document source. It is
// read-only, so replicas agree. Each document is signed by its authority
// with the demo authorities' keys (authorities.json) the first time it is
// read; their public keys are DemoTrustList.
type Demo struct {
	citizens  map[consent.IIN]consent.Citizen
	documents map[consent.IIN][]consent.Document
	signers   map[string]signer // by authority name
	signed    sync.Map          // IIN → []consent.Document, signed
	now       func() time.Time
}

var (
	_ consent.Registry       = (*Demo)(nil)
	_ consent.DocumentSource = (*Demo)(nil)
)

// NewDemo loads the demo citizens.
func NewDemo() (*Demo, error) {
	var data struct {
		Citizens []record `json:"citizens"`
	}
	if err := json.Unmarshal(demoData, &data); err != nil {
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	signers, err := demoSigners()
	if err != nil {
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	d := &Demo{citizens: map[consent.IIN]consent.Citizen{}, documents: map[consent.IIN][]consent.Document{}, signers: signers, now: time.Now}
	for _, r := range data.Citizens {
		c, err := r.citizen()
		if err != nil {
			return nil, fmt.Errorf("demo registry: %w", err)
		}
		d.citizens[c.IIN] = c
		for _, doc := range r.Documents {
			cd, err := doc.forHolder(consent.Holder{Name: c.Name, IIN: c.IIN})
			if err != nil {
				return nil, fmt.Errorf("demo registry: citizen %s: %w", c.IIN.Masked(), err)
			}
			if _, ok := signers[cd.Authority]; !ok {
				return nil, fmt.Errorf("demo registry: no demo authority %q", cd.Authority)
			}
			d.documents[c.IIN] = append(d.documents[c.IIN], cd)
		}
	}
	return d, nil
}

// Documents implements consent.DocumentSource: each document as its
// authority signed it.
func (d *Demo) Documents(_ context.Context, iin consent.IIN) ([]consent.Document, error) {
	if s, ok := d.signed.Load(iin); ok {
		return slices.Clone(s.([]consent.Document)), nil
	}
	docs := slices.Clone(d.documents[iin])
	for i, doc := range docs {
		jws, err := d.signers[doc.Authority].sign(doc, d.now())
		if err != nil {
			return nil, fmt.Errorf("%w: demo signature: %v", consent.ErrSourceUnavailable, err)
		}
		docs[i].Signed = jws
	}
	d.signed.Store(iin, docs)
	return slices.Clone(docs), nil
}

// Citizen implements consent.Registry.
func (d *Demo) Citizen(_ context.Context, iin consent.IIN) (consent.Citizen, error) {
	c, ok := d.citizens[iin]
	if !ok {
		return consent.Citizen{}, consent.ErrUnknownCitizen
	}
	return c, nil
}

// ReportError implements consent.ErrorReceiver: the demo registry takes
// every report and answers with a reference of its own.
func (d *Demo) ReportError(_ context.Context, r consent.ErrorReport) (string, error) {
	return "DEMO-" + r.ID, nil
}
