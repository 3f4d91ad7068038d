package console

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestUsersExport: the users page links to exports of its filter; they
// hold every card of the filter (not one page), in its order, as the
// admin API's export writes them, as CSV and as XLSX; a bad filter is the
// error page naming it.
func TestUsersExport(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		for _, p := range []struct{ email, group string }{{"cy@acme.example", "navy"}, {"bob@acme.example", "research"}, {"ann@acme.example", "navy"}} {
			in := person(p.email, "X", "Y")
			in.Attributes.Groups = []string{p.group}
			in.Attributes.Custom = map[string]string{"desk": "7"}
			e.add("acme", in)
		}
		e.addMany("acme", "n", "viewer", 60) // more than a page

		page := e.must(e.do("GET", "/console/t/acme/users?group=navy&sort=email", nil), http.StatusOK, "the navy")
		for _, want := range []string{`href="/console/t/acme/users/export.csv?group=navy&amp;sort=email"`, `href="/console/t/acme/users/export.xlsx?group=navy&amp;sort=email"`} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("the users page has no link %s", want)
			}
		}

		get := func(path string) *httptest.ResponseRecorder {
			t.Helper()
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: cookieName, Value: e.cookie})
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			return rec
		}
		rec := get("/console/t/acme/users/export.csv?group=navy&sort=email")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Disposition") != `attachment; filename="rosterd-acme-cards.csv"` ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("export.csv: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
		}
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[0][0] != "email" || rows[0][len(rows[0])-1] != "custom.desk" || rows[1][0] != "ann@acme.example" ||
			rows[2][0] != "cy@acme.example" || rows[1][len(rows[1])-1] != "7" {
			t.Fatalf("export.csv of the navy, by email: %v", rows)
		}

		rec = get("/console/t/acme/users/export.csv?role=viewer&cursor=x")
		if n := strings.Count(rec.Body.String(), "\n"); rec.Code != http.StatusOK || n != 64 {
			t.Errorf("export.csv of the 63 viewers (cursor ignored): %d, %d lines", rec.Code, n)
		}

		rec = get("/console/t/acme/users/export.xlsx?group=navy")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Disposition") != `attachment; filename="rosterd-acme-cards.xlsx"` {
			t.Fatalf("export.xlsx: %d %v\n%.300s", rec.Code, rec.Header(), rec.Body)
		}
		f, err := excelize.OpenReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sheet, err := f.GetRows("Cards")
		if err != nil {
			t.Fatal(err)
		}
		if len(sheet) != 3 || sheet[1][0] != "cy@acme.example" || sheet[2][0] != "ann@acme.example" {
			t.Fatalf("export.xlsx of the navy, in creation order: %v", sheet)
		}

		rec = get("/console/t/acme/users/export.csv?colour=red")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "&#34;colour&#34;") {
			t.Errorf("an export of an unknown filter: %d\n%s", rec.Code, rec.Body)
		}
	})
}
