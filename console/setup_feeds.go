package console

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// The portal's HR files part: for each of the tenant's feeds that receive
// files through rosterd's drop box (kind file, source: upload), where HR
// delivers them — the HTTPS upload URL with a curl line, the SFTP user and
// address when the drop box serves SFTP — and how the feed's last run went,
// read from the runs the held-plans pages read (Deps.Runs). The page makes
// and changes nothing: upload feeds and their tokens and SFTP logins are
// set in rosterd's configuration file, so a tenant without one is told to
// ask the platform's operators.

// DropBoxSFTP is the drop box's SFTP server as the HR files page shows it.
type DropBoxSFTP struct {
	// Listen is drop_box.sftp_listen, "" when the drop box serves no SFTP.
	// A wildcard host (":2222", "0.0.0.0:2222") is shown as public_url's.
	Listen string
	// Fingerprint is the SHA256 fingerprint of its host key, for HR's
	// known_hosts.
	Fingerprint string
}

type dropFeed struct {
	Name        string
	UploadURL   string
	Curl        string
	Schedule    string
	RunOnUpload bool
	// SFTPUser logs in with SFTPLogin's key or password; "" when the drop
	// box serves no SFTP.
	SFTPUser, SFTPCommand string
	SFTPLogin             bool
	LastRun               *lastRun
	// ID prefixes the page's ids of this feed's fields.
	ID string
}

type lastRun struct {
	ID, Status, Trigger, FileName, Error string
	Started, Finished                    time.Time
	// Counts are the run's counts in words, "2 rows read, 1 person added".
	Counts string
}

// runCounts are a run's counts as the HR files page words them, in the
// order a run makes them: read, planned, applied.
var runCounts = []struct{ key, one, many string }{
	{"records", "row read", "rows read"},
	{"flagged", "row skipped", "rows skipped"},
	{"create", "person added", "people added"},
	{"claim", "person matched", "people matched"},
	{"update", "person updated", "people updated"},
	{"unchanged", "person unchanged", "people unchanged"},
	{"deactivate", "person marked as left", "people marked as left"},
	{"withdraw", "person no longer listed", "people no longer listed"},
	{"enable", "card enabled", "cards enabled"},
	{"disable", "card disabled", "cards disabled"},
	{"applied", "change applied", "changes applied"},
}

// wordCounts says a run's counts in words; those runCounts does not know
// follow by their names.
func wordCounts(counts map[string]int) string {
	var out []string
	known := map[string]bool{}
	for _, c := range runCounts {
		known[c.key] = true
		n, ok := counts[c.key]
		if !ok {
			continue
		}
		word := c.many
		if n == 1 {
			word = c.one
		}
		out = append(out, fmt.Sprintf("%d %s", n, word))
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !known[k] {
			out = append(out, fmt.Sprintf("%s: %d", k, counts[k]))
		}
	}
	return strings.Join(out, ", ")
}

type setupFeedsView struct {
	TenantName string
	Feeds      []dropFeed
	// SFTPHost and SFTPPort are the drop box's SFTP server ("" none).
	SFTPHost, SFTPPort, SFTPFingerprint string
	// RunsKnown is false when this rosterd has no runs to read.
	RunsKnown bool
}

// setupFeeds: GET /console/setup/feeds — where HR delivers the tenant's
// files, and what became of the last one.
func (c *Console) setupFeeds(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		c.errorPage(w, r, http.StatusBadRequest, "The HR files page takes no parameters.")
		return
	}
	t, err := c.deps.Connections.Get(r.Context(), setupLinkOf(r).Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := setupFeedsView{TenantName: t.Name(), RunsKnown: c.deps.Runs != nil}
	if v.TenantName == "" {
		v.TenantName = t.ID()
	}
	if c.deps.DropBoxSFTP.Listen != "" {
		v.SFTPHost, v.SFTPPort = sftpAddress(c.deps.PublicURL, c.deps.DropBoxSFTP.Listen)
		v.SFTPFingerprint = c.deps.DropBoxSFTP.Fingerprint
	}
	base := strings.TrimSuffix(c.deps.PublicURL, "/")
	for _, f := range uploadFeeds(t) {
		up := base + "/drop/" + url.PathEscape(t.ID()) + "/" + url.PathEscape(f.Name)
		df := dropFeed{Name: f.Name, ID: "feed-" + f.Name, UploadURL: up, Schedule: f.Schedule, RunOnUpload: f.File.RunOnUpload,
			Curl: `curl --fail-with-body -T employees.csv -H "Authorization: Bearer $UPLOAD_TOKEN" "` + up + `?name=employees.csv"`}
		if v.SFTPHost != "" {
			df.SFTPUser, df.SFTPLogin = t.ID()+"."+f.Name, f.File.Upload.HasSFTPLogin()
			host := v.SFTPHost
			if strings.Contains(host, ":") {
				host = "[" + host + "]" // an IPv6 address, as sftp reads it
			}
			df.SFTPCommand = "sftp -P " + v.SFTPPort + " " + df.SFTPUser + "@" + host
		}
		if c.deps.Runs != nil {
			runs, err := c.deps.Runs.ListRuns(r.Context(), store.RunQuery{Tenant: t.ID(), Feed: f.Name, Limit: 1})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				c.fail(w, r, err)
				return
			}
			if len(runs) > 0 {
				run := runs[0]
				lr := &lastRun{ID: run.ID, Status: run.Status, Trigger: run.Trigger, FileName: run.FileName, Error: run.Error,
					Started: run.Started, Finished: run.Finished, Counts: wordCounts(run.Counts)}
				df.LastRun = lr
			}
		}
		v.Feeds = append(v.Feeds, df)
	}
	c.render(w, r, http.StatusOK, "setup_feeds", "HR files · "+v.TenantName, v)
}

// uploadFeeds are the tenant's feeds that the drop box receives files for.
func uploadFeeds(t *tenant.Tenant) []tenant.Feed {
	var out []tenant.Feed
	for _, f := range t.Feeds() {
		if f.Kind == "file" && f.File.IsUpload() {
			out = append(out, f)
		}
	}
	return out
}

// sftpAddress is the host and port HR connects to: listen's, or, when
// listen names no host or every address, public_url's host (what HR can
// reach; 0.0.0.0 it cannot).
func sftpAddress(publicURL, listen string) (host, port string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen, "22"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
	}
	return host, port
}
