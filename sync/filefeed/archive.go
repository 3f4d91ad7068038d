package filefeed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/rosterd/rosterd/sync/reconcile"
)

// archiveRead archives the file a snapshot was read from, for a run that
// applied without a fetch of its own (approved, or resumed after a crash):
// the file of the snapshot's name in the feed's folder, if it is still
// there with the content that was read. A file already gone is no error;
// a file of that name with other content is left where it is, and said.
func archiveRead(ctx context.Context, opts SourceOptions, snap reconcile.Snapshot, now time.Time) error {
	if opts.ArchiveDir == "" || snap.Name == "" {
		return nil
	}
	if path.Base(snap.Name) != snap.Name {
		return fmt.Errorf("archiving %q: not a file name", snap.Name)
	}
	src, err := OpenSource(ctx, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	s, ok := src.(*feedSource)
	if !ok {
		return fmt.Errorf("archiving %s: not a feed source", snap.Name)
	}
	fi, err := s.fs.stat(ctx, path.Join(s.loc.dir, snap.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.errorf("archiving %s: %w", snap.Name, err)
	}
	if fi.Size == snap.Size {
		data, err := s.Read(ctx, fi)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) == snap.Hash {
			return s.Archive(ctx, fi, now)
		}
	}
	return s.errorf("%s is not the file the run read (its content changed since): left where it is", fi.Path)
}
