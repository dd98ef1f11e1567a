package consent

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Document types are data, not code: each has its names in kk, ru and en,
// the labels of its own fields, and a display form (an HTML template the
// citizen's pages render it with). The service ships its types in
// doctypes/; the operator adds types, or rewords shipped ones, with a file
// of the same format (KELISIM_DOCUMENT_TYPES_FILE), so a new type is a
// data change. A type's scope is "documents:" followed by its name.

//go:embed doctypes
var shippedTypes embed.FS

// TypeInfo is one document type.
type TypeInfo struct {
	Type   DocumentType
	Names  map[string]string            // by language: kk, ru, en
	Labels map[string]map[string]string // its fields' labels: field → language → label
	Form   string                       // the display form: an html/template text
}

// Name is the type's name in lang, else in Kazakh.
func (t TypeInfo) Name(lang string) string {
	if n := t.Names[lang]; n != "" {
		return n
	}
	return t.Names[Languages[0]]
}

// Catalogue is the document types the service knows, in display order.
// It does not change once built.
type Catalogue struct {
	types []TypeInfo
	index map[DocumentType]int
}

// typeFile is the format of the shipped file and the operator's.
type typeFile struct {
	Types []struct {
		Type   DocumentType                 `json:"type"`
		Names  map[string]string            `json:"names"`
		Labels map[string]map[string]string `json:"labels,omitempty"`
		// Form names the template's file, relative to this one; or
		// FormTemplate holds it.
		Form         string `json:"form,omitempty"`
		FormTemplate string `json:"form_template,omitempty"`
	} `json:"types"`
}

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{1,39}$`)

// Valid reports whether t is well-formed as a type's name; whether the
// service knows it is the Catalogue's to say.
func (t DocumentType) Valid() bool { return typeName.MatchString(string(t)) }

// ShippedCatalogue is the types the service ships.
func ShippedCatalogue() (*Catalogue, error) { return NewCatalogue(nil, "") }

// NewCatalogue reads the shipped types and then, when name is set, the
// operator's file name in dir: a type it names that ships is replaced,
// a new one is added after the shipped ones. Every type needs a
// well-formed name, its names in kk, ru and en, and a display form.
func NewCatalogue(dir fs.FS, name string) (*Catalogue, error) {
	c := &Catalogue{index: map[DocumentType]int{}}
	if err := c.read(shippedTypes, "doctypes/types.json"); err != nil {
		return nil, fmt.Errorf("shipped document types: %w", err)
	}
	if name != "" {
		if err := c.read(dir, name); err != nil {
			return nil, fmt.Errorf("document types file %s: %w", name, err)
		}
	}
	return c, nil
}

func (c *Catalogue) read(fsys fs.FS, name string) error {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	var f typeFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if len(f.Types) == 0 {
		return errors.New("no types")
	}
	for i, e := range f.Types {
		if !e.Type.Valid() {
			return fmt.Errorf("types[%d]: %q is not a type name (a-z, 0-9 and _, 2 to 40, starting with a letter)", i, e.Type)
		}
		for _, l := range Languages {
			if strings.TrimSpace(e.Names[l]) == "" {
				return fmt.Errorf("type %s: no %s name", e.Type, l)
			}
		}
		form := e.FormTemplate
		switch {
		case e.Form != "" && form != "":
			return fmt.Errorf("type %s: form and form_template both given", e.Type)
		case e.Form != "":
			b, err := fs.ReadFile(fsys, path.Join(path.Dir(name), e.Form))
			if err != nil {
				return fmt.Errorf("type %s: %w", e.Type, err)
			}
			form = string(b)
		}
		if strings.TrimSpace(form) == "" {
			return fmt.Errorf("type %s: no display form", e.Type)
		}
		info := TypeInfo{Type: e.Type, Names: e.Names, Labels: e.Labels, Form: form}
		if j, ok := c.index[e.Type]; ok {
			c.types[j] = info
			continue
		}
		c.index[e.Type] = len(c.types)
		c.types = append(c.types, info)
	}
	return nil
}

// Known reports whether t is a type of the catalogue.
func (c *Catalogue) Known(t DocumentType) bool {
	_, ok := c.index[t]
	return ok
}

// Info returns t's description; ok is false for a type the catalogue
// does not have.
func (c *Catalogue) Info(t DocumentType) (TypeInfo, bool) {
	i, ok := c.index[t]
	if !ok {
		return TypeInfo{}, false
	}
	return c.types[i], true
}

// Types lists the types in display order.
func (c *Catalogue) Types() []DocumentType {
	out := make([]DocumentType, len(c.types))
	for i, t := range c.types {
		out[i] = t.Type
	}
	return out
}

// All lists the types' descriptions in display order.
func (c *Catalogue) All() []TypeInfo { return slices.Clone(c.types) }

// Scopes returns the OAuth scope of every type.
func (c *Catalogue) Scopes() []string {
	out := make([]string, len(c.types))
	for i, t := range c.types {
		out[i] = t.Type.Scope()
	}
	return out
}
