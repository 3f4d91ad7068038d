package config

import (
	"fmt"
	"path/filepath"
	"reflect"

	"golang.org/x/crypto/ssh"
)

// UploadSource is the source of a file feed fed through rosterd's own drop
// box: an HTTPS upload endpoint and, with drop_box.sftp_listen, an SFTP
// server (package sync/dropbox).
const UploadSource = "upload"

// DropBox configures the hosted drop box of the feeds with source: upload.
type DropBox struct {
	// Dir holds each upload feed's folders: <dir>/<tenant>/<feed>/inbox
	// (complete uploads, what the feed reads) and …/incoming (uploads in
	// progress). Default: DataDir/dropbox; read it with DropBoxDir.
	Dir string `yaml:"dir"`
	// SFTPListen is the SFTP server's host:port. Default none: no SFTP
	// server, uploads over HTTPS only.
	SFTPListen string `yaml:"sftp_listen"`
	// HostKeyFile is the SFTP server's host key (OpenSSH private key).
	// Default: DataDir/dropbox_host_ed25519, generated at the first start
	// and kept; read it with DropBoxHostKeyFile.
	HostKeyFile string `yaml:"host_key_file"`
}

// Upload says who may deliver files to a feed with source: upload. The
// HTTPS token may also be made through the admin API (POST
// /api/v1/tenants/{t}/feeds/{f}/upload-token); the SFTP user is
// "<tenant>.<feed>".
type Upload struct {
	// Token is the bearer token of PUT /drop/{tenant}/{feed}. Default none.
	Token string `yaml:"token"`
	// TokenFile names a file holding Token; Parse reads it into Token and
	// clears this field. Default none.
	TokenFile string `yaml:"token_file"`
	// AuthorizedKeys are the SSH public keys (authorized_keys lines) that
	// log in as the feed's SFTP user. Default none.
	AuthorizedKeys []string `yaml:"authorized_keys"`
	// AuthorizedKeysFile is an OpenSSH authorized_keys file of more such
	// keys, read at start. Default none.
	AuthorizedKeysFile string `yaml:"authorized_keys_file"`
	// Password is the SFTP user's password. Default none: key login only.
	Password string `yaml:"password"`
	// PasswordFile names a file holding Password. Default none.
	PasswordFile string `yaml:"password_file"`
}

// IsUpload reports whether the feed is fed through the drop box.
func (f *FileFeed) IsUpload() bool { return f.Source == UploadSource }

// HasSFTPLogin reports whether the upload feed has an SFTP credential.
func (u *Upload) HasSFTPLogin() bool {
	return len(u.AuthorizedKeys) > 0 || u.AuthorizedKeysFile != "" || u.Password != "" || u.PasswordFile != ""
}

// DropBoxDir returns drop_box.dir, DataDir/dropbox when unset.
func (c *Config) DropBoxDir() string {
	if c.DropBox.Dir != "" {
		return c.DropBox.Dir
	}
	return filepath.Join(c.DataDir, "dropbox")
}

// DropBoxHostKeyFile returns drop_box.host_key_file, DataDir/
// dropbox_host_ed25519 when unset.
func (c *Config) DropBoxHostKeyFile() string {
	if c.DropBox.HostKeyFile != "" {
		return c.DropBox.HostKeyFile
	}
	return filepath.Join(c.DataDir, "dropbox_host_ed25519")
}

// MinUploadPasswordLength is the least length of a drop box SFTP password.
const MinUploadPasswordLength = 16

func (v *validator) dropBox() {
	d := &v.c.DropBox
	if d.SFTPListen != "" {
		if err := checkListen(d.SFTPListen); err != nil {
			v.add("drop_box.sftp_listen", "%v", err)
		} else if d.SFTPListen == v.c.Listen {
			v.add("drop_box.sftp_listen", "%q is also listen, the HTTP address", d.SFTPListen)
		}
	}
}

// uploadFeed checks the keys of a file feed that concern the drop box:
// those of source: upload on it, and their absence elsewhere.
func (v *validator) uploadFeed(fp string, f *FileFeed) {
	up := fp + ".upload"
	if !f.IsUpload() {
		if !reflect.ValueOf(f.Upload).IsZero() {
			v.add(up, "applies only to a feed with source: upload")
		}
		if f.RunOnUpload {
			v.add(fp+".run_on_upload", "applies only to a feed with source: upload")
		}
		return
	}
	if !reflect.ValueOf(f.SFTP).IsZero() {
		v.add(fp+".sftp", "applies only to an sftp:// source; the drop box's SFTP users are set under upload")
	}
	if v.c.written(fp + ".stable_for") {
		v.add(fp+".stable_for", "not used with source: upload: an upload is read as soon as it is in the inbox, whole")
	}
	if f.DoneMarker != "" {
		v.add(fp+".done_marker", "not used with source: upload: an upload reaches the inbox only once it is complete")
	}
	v.credential(up+".token", f.Upload.Token)
	v.secretLength(up+".token", f.Upload.Token)
	if p := f.Upload.Password; p != "" && len(p) < MinUploadPasswordLength {
		v.add(up+".password", "too short (%d bytes): an SFTP password needs at least %d", len(p), MinUploadPasswordLength)
	}
	for i, k := range f.Upload.AuthorizedKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			v.add(fmt.Sprintf("%s.authorized_keys[%d]", up, i), "not an SSH public key in authorized_keys format (\"ssh-ed25519 AAAA… comment\"): %v", err)
		}
	}
	if f.Upload.HasSFTPLogin() && v.c.DropBox.SFTPListen == "" {
		v.add(up, "SFTP logins are set but drop_box.sftp_listen is not: set it to serve SFTP, or remove them")
	}
}
