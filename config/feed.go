package config

import (
	"fmt"
	"reflect"
	"strings"
)

// The admin API's feeds and webhooks are decoded and checked by the file's
// own decoder, defaults and validator, as if the document stood in the
// file at apiFeedDoc or apiWebhookDoc; the problems' paths are then made
// relative to the document ("sftp.known_hosts", not
// "tenants[0].feeds[0].sftp.known_hosts").
const (
	apiFeedDoc    = "tenants[0].feeds[0]"
	apiWebhookDoc = "webhooks[0]"
)

// DecodeFeed reads one feed as the admin API receives it, a JSON (or YAML)
// mapping of the keys a feeds[] entry of the file takes, onto a copy of
// base (nil: a new feed), with DecodeTenant's rules: a key given replaces
// that key's whole value, *_file keys are refused, every problem at once
// at its path in the document. dropBox is the daemon's drop box
// (Config.APIDropBox): a feed with source: upload, and its SFTP logins,
// are checked against it as the file's are against its drop_box; nil (not
// enabled) refuses source: upload. The error is an *Error.
func DecodeFeed(data []byte, base *Feed, dropBox *DropBox) (*Feed, error) {
	f := &Feed{}
	if base != nil {
		f = base.Clone()
	}
	err := decodeOne(data, apiFeedDoc, reflect.ValueOf(f).Elem(), base != nil, func(c *Config, v *validator) {
		if dropBox != nil {
			c.DropBox = *dropBox
		} else {
			c.DropBox.Enabled = &[]bool{false}[0]
		}
		c.feedDefaults(apiFeedDoc, f)
		v.name(apiFeedDoc+".name", f.Name, map[string]string{}, "feed")
		v.feed(apiFeedDoc, f)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeWebhook reads one webhook endpoint of a tenant as the admin API
// receives it (url, secret, insecure: a webhooks[] entry of the file
// without tenants, which the endpoint's tenant decides) onto a copy of
// base, with DecodeFeed's rules. The error is an *Error.
func DecodeWebhook(data []byte, base *Webhook) (*Webhook, error) {
	w := &Webhook{}
	if base != nil {
		c := *base
		w = &c
	}
	w.Tenants = nil
	err := decodeOne(data, apiWebhookDoc, reflect.ValueOf(w).Elem(), base != nil, func(c *Config, v *validator) {
		if w.Tenants != nil {
			v.add(apiWebhookDoc+".tenants", "a tenant's webhook receives that tenant's events: leave tenants out")
		}
		v.webhook(apiWebhookDoc, w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// decodeOne decodes data onto target (already a copy of the base, if
// any) at docPath, then runs check with the decoded keys known as
// written, and returns every problem with paths relative to the document.
func decodeOne(data []byte, docPath string, target reflect.Value, hasBase bool, check func(c *Config, v *validator)) error {
	fail := func(problems []Problem) error {
		for i := range problems {
			p := strings.TrimPrefix(problems[i].Path, docPath)
			problems[i].Path, problems[i].Line = strings.TrimPrefix(p, "."), 0
		}
		return &Error{Problems: problems}
	}
	if len(data) > MaxFileSize {
		return fail([]Problem{{Message: fmt.Sprintf("document is larger than %d MiB", MaxFileSize>>20)}})
	}
	root, problems := parseDocument(data)
	if len(problems) > 0 {
		return fail(problems)
	}
	baseLines := map[string]int{}
	if hasBase {
		markWritten(target, docPath, baseLines)
	}
	c := &Config{lines: map[string]int{}}
	broken := map[string]bool{}
	if root != nil {
		d := &decoder{lookupEnv: func(string) (string, bool) { return "", false }, lines: c.lines, broken: broken}
		d.decode(root, target, docPath)
		if d.nodes > maxNodes {
			return fail(d.problems)
		}
		problems = append(problems, d.problems...)
	}
	for p := range c.lines {
		if key := p[strings.LastIndexAny(p, ".]")+1:]; strings.HasSuffix(key, "_file") {
			problems = append(problems, Problem{Path: p, Message: "files are not read through the API: give the value itself"})
			broken[p] = true
		}
	}
	given := map[string]bool{}
	for p := range c.lines {
		given[topKeyAt(docPath, p)] = true
	}
	for p := range baseLines {
		if _, ok := c.lines[p]; !ok && !given[topKeyAt(docPath, p)] {
			c.lines[p] = 0
		}
	}
	v := &validator{c: c, credentials: map[string]string{}}
	check(c, v)
	for _, p := range v.problems {
		if !repeats(p, broken) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fail(problems)
	}
	return nil
}

// topKeyAt is the document's own key a path is under: "sftp" for
// "tenants[0].feeds[0].sftp.password" at "tenants[0].feeds[0]".
func topKeyAt(doc, p string) string {
	p = strings.TrimPrefix(strings.TrimPrefix(p, doc), ".")
	if i := strings.IndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return p
}
