// Package registry holds the citizen registries: the embedded demo registry
// loaded from citizens.json, and an HTTP client for a state system.
package registry

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/kelisim/kelisim/consent"
)

//go:embed citizens.json
var demoData []byte

// record is one citizen as the data file and the HTTP registry write it.
type record struct {
	IIN        string   `json:"iin"`
	Name       string   `json:"name"`
	Phone      string   `json:"phone,omitempty"`
	Represents []string `json:"represents,omitempty"`
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

// Demo is the embedded demo registry. It is read-only, so replicas agree.
type Demo struct {
	citizens map[consent.IIN]consent.Citizen
}

var _ consent.Registry = (*Demo)(nil)

// NewDemo loads the demo citizens.
func NewDemo() (*Demo, error) {
	var data struct {
		Citizens []record `json:"citizens"`
	}
	if err := json.Unmarshal(demoData, &data); err != nil {
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	d := &Demo{citizens: map[consent.IIN]consent.Citizen{}}
	for _, r := range data.Citizens {
		c, err := r.citizen()
		if err != nil {
			return nil, fmt.Errorf("demo registry: %w", err)
		}
		d.citizens[c.IIN] = c
	}
	return d, nil
}

// Citizen implements consent.Registry.
func (d *Demo) Citizen(_ context.Context, iin consent.IIN) (consent.Citizen, error) {
	c, ok := d.citizens[iin]
	if !ok {
		return consent.Citizen{}, consent.ErrUnknownCitizen
	}
	return c, nil
}
