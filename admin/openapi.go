package admin

import (
	_ "embed"
	"net/http"
)

// openAPISpec describes every route Mount registers (a test checks).
//
//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the API's OpenAPI 3.1 description.
func OpenAPI() []byte { return openAPISpec }

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Write(openAPISpec)
}
