package saml

import (
	"html/template"
	"net/http"
)

// The pages people see: plain, with no internal detail. The reference
// lets an administrator find the log line (which has the reason).
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}small{color:#777}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Ref}}<p><small>Reference: {{.Ref}}</small></p>{{end}}
</body></html>
`))

func page(w http.ResponseWriter, status int, title, message, ref string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message, Ref string }{title, message, ref})
}

// waitingForApproval is the page of a person whose card waits for an
// admin's approval: they did nothing wrong and need do nothing more, so it
// says that, not "refused" (403: no login happened).
func waitingForApproval(w http.ResponseWriter, ref string) {
	page(w, http.StatusForbidden, "Waiting for approval",
		"Your sign-in worked, and your account is waiting for an administrator's approval. "+
			"You can sign in once it has been approved; there is nothing more to do now.", ref)
}
