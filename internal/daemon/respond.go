package daemon

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers with status and v encoded as JSON.
//
// v is encoded before anything is written, so a value that cannot be encoded
// yields a clean 500 error body instead of a half-written response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{Error: errorDetail{
			Code:    "internal",
			Message: "the response could not be encoded",
		}})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// WriteError answers with status and the error body every rosterd JSON API
// shares:
//
//	{"error":{"code":"invalid_value","field":"email","message":"…"}}
//
// field is left out when empty. code is a stable, machine-readable word
// (snake_case); message is for people and may change.
func WriteError(w http.ResponseWriter, status int, code, field, message string) {
	WriteJSON(w, status, errorBody{Error: errorDetail{Code: code, Field: field, Message: message}})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}
