package notify

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	htmlInvite = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/invite.html.tmpl"))
	textInvite = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/invite.txt.tmpl"))
)

// inviteData is what the invite templates show.
type inviteData struct {
	TenantName string
	// Link is the invite link, {public_url}/invite/{tenant}/{token}.
	Link string
	// Expires is the link's end, written out for people (UTC).
	Expires  string
	Reminder bool
}

// Stop ends the sentence that names the tenant: a full stop, unless the
// name brings its own ("Acme Inc.").
func (d inviteData) Stop() string {
	if strings.HasSuffix(d.TenantName, ".") {
		return ""
	}
	return "."
}

func (d inviteData) subject() string {
	if d.Reminder {
		return "Reminder: you are invited to " + d.TenantName
	}
	return "You are invited to " + d.TenantName
}

// render returns the text and HTML bodies.
func (d inviteData) render() (text, html string, err error) {
	var t, h bytes.Buffer
	if err := textInvite.Execute(&t, d); err != nil {
		return "", "", err
	}
	if err := htmlInvite.Execute(&h, d); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}
