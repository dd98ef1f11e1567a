package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/adapters/httpapi"
)

// The OpenAPI description is valid OpenAPI 3.1, is served as it is kept,
// and describes exactly the routes under the paths it covers: each one
// the router serves, and none it does not.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("not a valid description: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("OpenAPI %s, want 3.1.0", doc.OpenAPI)
	}
	param := regexp.MustCompile(`\{[^}]+\}|:[^/]+`)
	key := func(method, path string) string { return method + " " + param.ReplaceAllString(path, "{}") }
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		if !httpapi.Described(path) {
			t.Errorf("%s is outside the paths the description says it covers", path)
		}
		for method, op := range item.Operations() {
			described[key(method, path)] = true
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s: no operationId or summary", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, r := range g.srv.Config.Handler.(*gin.Engine).Routes() {
		if !httpapi.Described(r.Path) {
			continue
		}
		k := key(r.Method, r.Path)
		served[k] = true
		if !described[k] {
			t.Errorf("%s is served and not described", k)
		}
	}
	for k := range described {
		if !served[k] {
			t.Errorf("%s is described and not served", k)
		}
	}

	resp, err := http.Get(g.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi.json: %s %v", resp.Header.Get("Content-Type"), err)
	}
	_ = json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		t.Error("/openapi.json is not the description kept in the repository")
	}
}
