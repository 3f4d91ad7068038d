package ssptest

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	formRE  = regexp.MustCompile(`(?is)<form([^>]*)>(.*?)</form>`)
	attrRE  = regexp.MustCompile(`(?is)\s([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	inputRE = regexp.MustCompile(`(?is)<input[^>]*>`)
)

// Form reads the form of page whose action contains action ("": the
// first form) as a browser would submit it: its action resolved against
// at, the page's URL, and its fields (every named input but submits).
// A login driven over HTTP reads the IdP's and rosterd's pages with it.
func Form(t testing.TB, page, action string, at *url.URL) (string, url.Values) {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		act := tagAttrs(m[1])["action"]
		if !strings.Contains(act, action) {
			continue
		}
		u, err := url.Parse(act)
		if err != nil {
			t.Fatalf("the form's action %q at %s: %v", act, at, err)
		}
		fields := url.Values{}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			a := tagAttrs(in)
			if a["name"] != "" && a["type"] != "submit" {
				fields.Set(a["name"], a["value"])
			}
		}
		return at.ResolveReference(u).String(), fields
	}
	t.Fatalf("no form to %q in the page at %s: %.1500s", action, at, page)
	return "", nil
}

// tagAttrs reads an HTML tag's quoted attributes, names in lower case.
func tagAttrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3])
	}
	return out
}
