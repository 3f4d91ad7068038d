package filefeed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// dirFS is a local folder (dir:// sources).
type dirFS struct{}

func localInfo(p string, fi fs.FileInfo) FileInfo {
	return FileInfo{Path: p, Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()}
}

func (dirFS) list(ctx context.Context, dir string) ([]FileInfo, error) {
	entries, err := os.ReadDir(filepath.FromSlash(dir))
	if err != nil {
		return nil, err
	}
	var out []FileInfo
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(filepath.FromSlash(dir), e.Name())
		fi, err := os.Stat(p) // follows symlinks: a link to a regular file counts
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing, or a dangling link
			}
			return nil, err
		}
		if fi.Mode().IsRegular() {
			out = append(out, localInfo(filepath.ToSlash(p), fi))
		}
	}
	return out, nil
}

func (dirFS) stat(ctx context.Context, p string) (FileInfo, error) {
	fi, err := os.Stat(filepath.FromSlash(p))
	if err != nil {
		return FileInfo{}, err
	}
	return localInfo(p, fi), nil
}

func (dirFS) read(ctx context.Context, want FileInfo) ([]byte, error) {
	f, err := os.Open(filepath.FromSlash(want.Path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if now := localInfo(want.Path, fi); now.Size != want.Size || !now.ModTime.Equal(want.ModTime) {
		return nil, &changedError{was: want, now: now}
	}
	return readExactly(ctx, f, want.Size, nil)
}

// readExactly reads r to its end and requires exactly size bytes. progress,
// when set, is called after each chunk.
func readExactly(ctx context.Context, r io.Reader, size int64, progress func()) ([]byte, error) {
	buf := make([]byte, 0, size+1) // +1: room to see that the file is longer
	chunk := 256 << 10
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(cap(buf), len(buf)+chunk)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if progress != nil && n > 0 {
			progress()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("after %d of %d bytes: %w", len(buf), size, err)
		}
		if int64(len(buf)) > size {
			break // longer than listed: refused below, not read on
		}
	}
	if int64(len(buf)) != size {
		return nil, fmt.Errorf("read %d bytes, but the file has %d", len(buf), size)
	}
	return buf, nil
}

func (dirFS) mkdirAll(ctx context.Context, dir string) error {
	return os.MkdirAll(filepath.FromSlash(dir), 0o750)
}

func (dirFS) rename(ctx context.Context, oldp, newp string) error {
	from, to := filepath.FromSlash(oldp), filepath.FromSlash(newp)
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := os.Rename(from, to)
	if errors.Is(err, syscall.EXDEV) { // archive on another file system
		return copyThenRemove(from, to)
	}
	return err
}

// copyThenRemove moves a file across file systems: a copy under a temporary
// name beside the target, synced, renamed into place with the original
// mtime, and only then the original removed.
func copyThenRemove(from, to string) (err error) {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".partial-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, src); err != nil {
		return err
	}
	if err = tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chtimes(tmp.Name(), fi.ModTime(), fi.ModTime()); err != nil {
		return err
	}
	if _, err = os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	}
	if err = os.Rename(tmp.Name(), to); err != nil {
		return err
	}
	return os.Remove(from)
}

func (dirFS) close() error { return nil }
