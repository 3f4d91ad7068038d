package notify_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/notify"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/sqlite"
)

// rowBytes is everything the store gives back of a card's outbox rows,
// as stored (the payload's bytes as they are, not base64 as JSON would
// write them).
func (e *env) rowBytes(cardID string) []byte {
	e.t.Helper()
	var b bytes.Buffer
	for _, m := range e.outbox(cardID) {
		fmt.Fprintf(&b, "%d|%s|%s|%s|%s|", m.ID, m.Tenant, m.CardID, m.Kind, m.Created)
		b.Write(m.Payload)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestOutboxHoldsNoUsableToken: the outbox rows of an invite and of a
// reminder, read straight from the store while queued and after sending,
// hold neither the token nor a link; the mail that reaches the SMTP server
// carries a link that works. On SQLite, the database file holds no token
// at all.
func TestOutboxHoldsNoUsableToken(t *testing.T) {
	var dbDir string
	for name, open := range map[string]func(*testing.T) store.Backend{
		"sqlite": func(t *testing.T) store.Backend {
			dbDir = t.TempDir()
			st, err := sqlite.Open(filepath.Join(dbDir, "rosterd.db"))
			if err != nil {
				t.Fatal(err)
			}
			return migrated(t, st)
		},
		"postgres": openPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			smtp := newCapture(t)
			smtp.start()
			e := newEnv(t, open(t))
			card := e.invite("ann@example.com")
			queued := e.rowBytes(card.ID)
			m := e.mailer(smtp.url(), notify.Options{})
			if res := e.runOnce(m); res.Sent != 1 {
				t.Fatalf("RunOnce = %+v", res)
			}
			e.clock.Advance(25 * time.Hour)
			if _, err := e.svc.Remind(e.ctx, directory.Actor{Name: "admin:ops"}, "acme", card.ID); err != nil {
				t.Fatal(err)
			}
			queuedReminder := e.rowBytes(card.ID)
			if res := e.runOnce(m); res.Sent != 1 {
				t.Fatalf("RunOnce (reminder) = %+v", res)
			}
			sent := e.rowBytes(card.ID)

			msgs := smtp.messages()
			if len(msgs) != 2 {
				t.Fatalf("captured %d mails, want 2", len(msgs))
			}
			var tokens []string
			for _, msg := range msgs {
				link := linkRE.FindString(msg.Text)
				token := strings.TrimPrefix(link, e.web.URL+"/invite/acme/")
				if link == "" || token == link || len(token) < 40 {
					t.Fatalf("no invite link in the mail:\n%s", msg.Text)
				}
				tokens = append(tokens, token)
			}
			for what, raw := range map[string][]byte{"queued invite": queued, "queued reminder": queuedReminder, "sent": sent} {
				for _, token := range tokens {
					if bytes.Contains(raw, []byte(token)) {
						t.Errorf("the %s outbox rows hold the token %s:\n%s", what, token, raw)
					}
				}
				if bytes.Contains(raw, []byte("/invite/")) {
					t.Errorf("the %s outbox rows hold a link:\n%s", what, raw)
				}
			}
			if dbDir != "" && name == "sqlite" {
				files, _ := filepath.Glob(filepath.Join(dbDir, "rosterd.db*"))
				for _, f := range files {
					data, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for _, token := range tokens {
						if bytes.Contains(data, []byte(token)) {
							t.Errorf("%s holds the token %s", filepath.Base(f), token)
						}
					}
				}
			}
			// The reminder's link works (the invite's was replaced by it).
			if resp := accept(t, linkRE.FindString(msgs[1].Text)); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("accepting the mailed link = %d, want 303", resp.StatusCode)
			}
		})
	}
}

// TestOtherInviteKeyIsNotSent: a worker holding another invite key than
// the one a message was queued under sends no mail with a link that could
// not work; it retries, saying why, and a worker with the right key sends.
func TestOtherInviteKeyIsNotSent(t *testing.T) {
	smtp := newCapture(t)
	smtp.start()
	e := newEnv(t, openSQLite(t))
	card := e.invite("cy@example.com")
	other := e.mailer(smtp.url(), notify.Options{InviteKey: directory.NewRandomInviteKey()})
	if res := e.runOnce(other); res.Failed != 1 || len(smtp.messages()) != 0 {
		t.Fatalf("RunOnce with another key = %+v, %d mails; want a failure and no mail", res, len(smtp.messages()))
	}
	id := e.outbox(card.ID)[0].ID
	if st, att := e.status(id); st != store.OutboxPending || att != 1 {
		t.Fatalf("status = %s, %d attempts; want pending after one", st, att)
	}
	e.clock.Advance(time.Minute)
	if res := e.runOnce(e.mailer(smtp.url(), notify.Options{})); res.Sent != 1 {
		t.Fatalf("RunOnce with the directory's key = %+v", res)
	}
	if resp := accept(t, linkRE.FindString(smtp.messages()[0].Text)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the mailed link = %d, want 303", resp.StatusCode)
	}
}
