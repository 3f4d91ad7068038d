package dropbox

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/config"
)

// Feed is one feed with source: upload, as the drop box serves it.
type Feed struct {
	Tenant, Name string
	// Dir is the feed's folder: Dir/inbox and Dir/incoming.
	Dir string
	// MaxSize is the largest upload, in bytes.
	MaxSize int64
	// Token is the configured upload token ("" none); New keeps only its
	// hash.
	Token string
	// AuthorizedKeys log in as the feed's SFTP user.
	AuthorizedKeys []ssh.PublicKey
	// Password is the SFTP user's password ("" none); New keeps only its
	// hash.
	Password string
	// RunOnUpload runs the feed once an upload is stored.
	RunOnUpload bool
}

// Inbox is the folder complete uploads land in.
func (f *Feed) Inbox() string { return filepath.Join(f.Dir, "inbox") }

// incoming is the folder uploads in progress are written to.
func (f *Feed) incoming() string { return filepath.Join(f.Dir, "incoming") }

// User is the feed's SFTP user name.
func (f *Feed) User() string { return f.Tenant + "." + f.Name }

// FeedDir is an upload feed's folder under the drop box's.
func FeedDir(cfg *config.Config, tenant, feed string) string {
	return filepath.Join(cfg.DropBoxDir(), tenant, feed)
}

// AsDirFeed returns the feed configuration that sync/filefeed runs for a
// feed with source: upload: a dir:// source over its inbox, read without
// waiting for the file to be stable (an upload is whole once it is there).
// Other feeds are returned as they are.
func AsDirFeed(cfg *config.Config, tenant string, f config.Feed) config.Feed {
	if f.Kind != "file" || !f.File.IsUpload() {
		return f
	}
	inbox := filepath.Join(FeedDir(cfg, tenant, f.Name), "inbox")
	f.File.Source = "dir://" + filepath.ToSlash(inbox) + "/*"
	f.File.StableFor = 0 // filefeed: do not wait
	return f
}

// FeedsOf lists the configuration's feeds with source: upload, their
// authorized_keys files read.
func FeedsOf(cfg *config.Config) ([]Feed, error) {
	var out []Feed
	for _, t := range cfg.Tenants {
		for _, f := range t.Feeds {
			if f.Kind != "file" || !f.File.IsUpload() {
				continue
			}
			bf, err := FeedOf(cfg, t.ID, f)
			if err != nil {
				return nil, err
			}
			out = append(out, bf)
		}
	}
	return out, nil
}

// FeedOf is a tenant's feed with source: upload as the drop box serves it
// (a feed of the file, or one the admin API made), its authorized_keys
// file read; its folder is under cfg's drop_box.dir.
func FeedOf(cfg *config.Config, tenant string, f config.Feed) (Feed, error) {
	where := fmt.Sprintf("tenant %s feed %s", tenant, f.Name)
	if f.Kind != "file" || !f.File.IsUpload() {
		return Feed{}, fmt.Errorf("%s: not a feed with source: upload", where)
	}
	up := f.File.Upload
	var keys []ssh.PublicKey
	for i, line := range up.AuthorizedKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return Feed{}, fmt.Errorf("%s: upload.authorized_keys[%d]: %v", where, i, err)
		}
		keys = append(keys, k)
	}
	if up.AuthorizedKeysFile != "" {
		more, err := readAuthorizedKeys(up.AuthorizedKeysFile)
		if err != nil {
			return Feed{}, fmt.Errorf("%s: upload.authorized_keys_file: %w", where, err)
		}
		keys = append(keys, more...)
	}
	max := int64(f.File.MaxFileSize)
	if max <= 0 {
		max = config.DefaultMaxFileSize
	}
	return Feed{Tenant: tenant, Name: f.Name, Dir: FeedDir(cfg, tenant, f.Name), MaxSize: max,
		Token: up.Token, AuthorizedKeys: keys, Password: up.Password, RunOnUpload: f.File.RunOnUpload}, nil
}

// readAuthorizedKeys reads an OpenSSH authorized_keys file: one key a
// line, blank lines and # comments skipped. Options before a key are
// refused rather than ignored (a from= or command= the drop box would not
// honour).
func readAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, _, opts, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: not an SSH public key: %v", path, n, err)
		}
		if len(opts) > 0 {
			return nil, fmt.Errorf("%s line %d: key options (%s) are not supported by the drop box: remove them", path, n, opts[0])
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key in the file", path)
	}
	return keys, nil
}
