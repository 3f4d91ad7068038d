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
//
// The file's own upload feeds are served whether or not the file has a
// drop_box section (as before it existed). Feeds the admin API makes with
// source: upload need the operator's consent: a drop_box section in the
// file (drop_box: {} is enough) without enabled: false. Read it with
// DropBoxEnabled.
type DropBox struct {
	// Enabled turns the drop box on or off. Default: on when the file
	// has a drop_box section. Off, no feed (of the file or the API) may
	// have source: upload.
	Enabled *bool `yaml:"enabled"`
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

// DropBoxEnabled reports whether the daemon's drop box takes the feeds
// the admin API makes with source: upload: drop_box.enabled, or, left
// out, whether the file has a drop_box section.
func (c *Config) DropBoxEnabled() bool {
	if c.DropBox.Enabled != nil {
		return *c.DropBox.Enabled
	}
	return c.written("drop_box")
}

// APIDropBox is the drop box as the admin API checks its feeds against it
// (config.DecodeFeed): nil when it is not enabled.
func (c *Config) APIDropBox() *DropBox {
	if !c.DropBoxEnabled() {
		return nil
	}
	d := c.DropBox
	d.Enabled = &[]bool{true}[0]
	return &d
}

// dropBoxOff reports whether the drop box is turned off: in the file, by
// drop_box.enabled: false; for the admin API also when it is not enabled
// (DecodeFeed and DecodeTenant then set enabled: false).
func (c *Config) dropBoxOff() bool {
	return c.DropBox.Enabled != nil && !*c.DropBox.Enabled
}

// DropBoxHostKeyFile returns drop_box.host_key_file, DataDir/
// dropbox_host_ed25519 when unset.
func (c *Config) DropBoxHostKeyFile() string {
	if c.DropBox.HostKeyFile != "" {
		return c.DropBox.HostKeyFile
	}
	return filepath.Join(c.DataDir, "dropbox_host_ed25519")
}

// DropBoxOffMessage is the refusal of a feed with source: upload when the
// daemon's drop box is not enabled.
const DropBoxOffMessage = "a feed with source: upload needs rosterd's drop box, which is not enabled: the operator must enable drop_box in the configuration file (a drop_box section, e.g. drop_box: {enabled: true}) and restart rosterd"

// MinUploadPasswordLength is the least length of a drop box SFTP password.
const MinUploadPasswordLength = 16

func (v *validator) dropBox() {
	d := &v.c.DropBox
	if v.c.dropBoxOff() {
		for _, k := range []struct {
			key string
			set bool
		}{{"dir", d.Dir != ""}, {"sftp_listen", d.SFTPListen != ""}, {"host_key_file", d.HostKeyFile != ""}} {
			if k.set {
				v.add("drop_box."+k.key, "the drop box is off (drop_box.enabled: false): remove %s, or turn the drop box on", k.key)
			}
		}
		return
	}
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
	if v.c.dropBoxOff() {
		v.add(fp+".source", "%s", DropBoxOffMessage)
	}
	if !reflect.ValueOf(f.SFTP).IsZero() {
		v.add(fp+".sftp", "applies only to an sftp:// source; the drop box's SFTP users are set under upload")
	}
	// Written in this document: a patch's base keeps the default the
	// feed was stored with (line 0), which is not the operator's doing.
	if v.c.lines[fp+".stable_for"] > 0 {
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
	if f.Upload.HasSFTPLogin() && v.c.DropBox.SFTPListen == "" && !v.c.dropBoxOff() {
		v.add(up, "SFTP logins are set but drop_box.sftp_listen is not: set it to serve SFTP, or remove them")
	}
}
