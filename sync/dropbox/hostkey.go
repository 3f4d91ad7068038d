package dropbox

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// LoadOrCreateHostKey reads the SFTP server's host key from path, or, when
// there is no file, generates an ed25519 key and writes it there (OpenSSH
// format, mode 0600; created reports it). Two processes starting at once
// agree on one key: it is written whole under another name and linked into
// place. A key file others may read is refused.
func LoadOrCreateHostKey(path string) (signer ssh.Signer, created bool, err error) {
	signer, err = readHostKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return signer, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "rosterd drop box")
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("creating the host key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem.EncodeToMemory(block))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		signer, err = readHostKey(path)
		return signer, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("writing the host key file %s: %w", path, err)
	}
	signer, err = readHostKey(path)
	return signer, err == nil, err
}

func readHostKey(path string) (ssh.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("host key file %s has mode %04o: others may read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("host key file %s: %w (an unencrypted OpenSSH or PEM private key)", path, err)
	}
	return s, nil
}
