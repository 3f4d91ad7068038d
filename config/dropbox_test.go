package config

import (
	"path/filepath"
	"testing"
)

const uploadKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGPRgYfDMbjTwEJb2EJGY2wG8IXLcJ9oM0Y6Kq3Q0Fj1 hr@acme"

func TestUploadFeedParses(t *testing.T) {
	c := mustParse(t, `
data_dir: /var/lib/rosterd
drop_box: {sftp_listen: "127.0.0.1:2222"}
tenants:
  - id: acme
    feeds:
      - name: hr
        kind: file
        source: upload
        run_on_upload: true
        upload:
          token: "0123456789abcdef0123456789abcdef"
          authorized_keys: ["`+uploadKey+`"]
`)
	f := c.Tenants[0].Feeds[0].File
	if !f.IsUpload() || !f.RunOnUpload || f.Upload.Token == "" || len(f.Upload.AuthorizedKeys) != 1 {
		t.Fatalf("feed: %+v", f)
	}
	if got, want := c.DropBoxDir(), filepath.Join("/var/lib/rosterd", "dropbox"); got != want {
		t.Errorf("DropBoxDir = %q, want %q", got, want)
	}
	if got := c.DropBoxHostKeyFile(); got != "/var/lib/rosterd/dropbox_host_ed25519" {
		t.Errorf("DropBoxHostKeyFile = %q", got)
	}
}

func TestUploadFeedRefusals(t *testing.T) {
	for _, tc := range []struct{ name, feed, top, want string }{
		{"upload keys on a dir feed", "source: dir:///srv/*.csv\n        upload: {token: 0123456789abcdef0123456789abcdef}", "",
			"tenants[0].feeds[0].upload: applies only to a feed with source: upload"},
		{"run_on_upload on a dir feed", "source: dir:///srv/*.csv\n        run_on_upload: true", "",
			"tenants[0].feeds[0].run_on_upload: applies only to a feed with source: upload"},
		{"sftp credentials on upload", "source: upload\n        sftp: {known_hosts_file: /k}", "", "tenants[0].feeds[0].sftp: applies only to an sftp:// source"},
		{"stable_for", "source: upload\n        stable_for: 10s", "", "tenants[0].feeds[0].stable_for: not used with source: upload"},
		{"done marker", "source: upload\n        done_marker: .done", "", "tenants[0].feeds[0].done_marker: not used with source: upload"},
		{"short token", "source: upload\n        upload: {token: short}", "", "tenants[0].feeds[0].upload.token: too short"},
		{"short password", "source: upload\n        upload: {password: short}", "drop_box: {sftp_listen: ':2222'}\n", "tenants[0].feeds[0].upload.password: too short"},
		{"bad key", "source: upload\n        upload: {authorized_keys: [nonsense]}", "drop_box: {sftp_listen: ':2222'}\n",
			"tenants[0].feeds[0].upload.authorized_keys[0]: not an SSH public key"},
		{"sftp login without listener", "source: upload\n        upload: {authorized_keys: [\"" + uploadKey + "\"]}", "",
			"tenants[0].feeds[0].upload: SFTP logins are set but drop_box.sftp_listen is not"},
		{"unknown key", "source: upload\n        upload: {tokn: x}", "", "tokn"},
		{"bad listen", "source: upload", "drop_box: {sftp_listen: nowhere}\n", "drop_box.sftp_listen: expected host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.top+"tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: file\n        "+tc.feed+"\n")
			wantContains(t, err, tc.want)
		})
	}
}

func TestUploadSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	writeFile(t, tok, "0123456789abcdef0123456789abcdef\n")
	c := mustParse(t, "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: file\n        source: upload\n        upload: {token_file: "+tok+"}\n")
	if got := c.Tenants[0].Feeds[0].File.Upload; got.Token != "0123456789abcdef0123456789abcdef" || got.TokenFile != "" {
		t.Fatalf("upload: %+v", got)
	}
}
