package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/rosterd/rosterd/directory"
)

// View is what every page's template gets: the layout's fields, and the
// page's own typed view in Page. render fills it from the request, so that
// no handler can forget the CSRF token.
type View struct {
	Title string
	// CSRF is the session's token; every form carries it as "csrf".
	CSRF string
	// Who is the signed-in person (Name empty when nobody is).
	Who Identity
	// TenantID is the tenant of the page, if any (for the navigation).
	TenantID string
	// Flash is a one-time message from the previous request (after a
	// form's redirect).
	Flash string
	Page  any
}

// page is one loaded page: the layout with the page's "content".
type page struct {
	tmpl *template.Template
}

// pageNames are the templates New requires, each templates/<name>.html
// defining "content".
var pageNames = []string{"signin", "tenants", "users", "bulk", "card", "error", "runs", "run", "setup", "setup_saml", "setup_saml_result", "setup_scim", "setup_feeds", "person_new", "sso", "import", "import_review", "import_summary"}

var funcs = template.FuncMap{
	"statusLabel": statusLabel,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"add": func(a, b int) int { return a + b },
}

func loadPages() (map[string]*page, error) {
	out := map[string]*page{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("console: template %s.html defines no \"content\"", name)
		}
		out[name] = &page{tmpl: t}
	}
	return out, nil
}

// render writes a page: the layout around the named page's content, with
// the session's CSRF token and flash.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, p any) {
	pg, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name) // a wiring mistake: New checks pageNames
	}
	v := View{Title: title, Who: identityOf(r), TenantID: r.PathValue("t"), Page: p}
	if s := sessionOf(r); s != nil {
		v.CSRF = s.csrf()
		v.Flash = c.sessions.takeFlash(r.Context(), s)
	}
	var buf bytes.Buffer
	if err := pg.tmpl.Execute(&buf, v); err != nil {
		c.deps.Logger.Error("console template failed", "page", name, "err", err)
		http.Error(w, "internal error; see the server log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorView struct {
	Status  int
	Heading string
	Message string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", http.StatusText(status), errorView{Status: status, Heading: http.StatusText(status), Message: msg})
}

// statusLabel is a status as people read it.
func statusLabel(s directory.Status) string {
	switch s {
	case directory.Active:
		return "Active"
	case directory.InvitePending:
		return "Invite pending"
	case directory.InviteExpired:
		return "Invite expired"
	case directory.Provisioned:
		return "Provisioned"
	case directory.Disabled:
		return "Disabled"
	case directory.PendingApproval:
		return "Pending approval"
	case "enabled":
		return "Enabled"
	case "":
		return "All"
	}
	return string(s)
}
