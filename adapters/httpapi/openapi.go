package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// openAPIYAML describes the gateway's HTTP APIs other than OAuth's (the
// admin API, the partners' documents, grants and verification, the
// citizen's app, the public register and evidence), in OpenAPI 3.1. It is
// kept in YAML for people and served as JSON at /openapi.json; the
// end-to-end suite checks every response it gets against it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIPaths are the paths (by prefix) the description covers: every
// route under them is described, and nothing else is.
var OpenAPIPaths = []string{"/admin/v1/", "/api/v1/", "/grants/", "/register.json", "/receipts/", "/terms/", "/trust-list.json",
	"/history/checkpoints", "/history/consistency", "/healthz", "/readyz", "/openapi.json"}

// Described reports whether the description covers path.
func Described(path string) bool {
	for _, p := range OpenAPIPaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// OpenAPI returns the description as JSON.
func OpenAPI() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// openAPIJSON is the description as served, made at its first request
// (not at every start of the binary, whose commands do not serve it).
var openAPIJSON = sync.OnceValues(OpenAPI)

func serveOpenAPI(c *gin.Context) {
	doc, err := openAPIJSON()
	if err != nil { // the embedded file is checked by the tests
		problem(c, http.StatusInternalServerError, "Internal error", "")
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Header("Access-Control-Allow-Origin", "*")
	c.Data(http.StatusOK, "application/json", doc)
}
