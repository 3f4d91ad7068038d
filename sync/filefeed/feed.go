package filefeed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// NewFeed is a configured file feed as the sync pipeline runs it: source
// "file:<name>", authoritative unless configured otherwise, a full roster
// (people the file omits are withdrawn). With partial: true its records
// assert only the attributes the file has columns for.
func NewFeed(tenant string, f config.Feed, limits reconcile.Limits, now func() time.Time) reconcile.Feed {
	if now == nil {
		now = time.Now
	}
	stable := f.File.StableFor.Std()
	if stable == 0 {
		stable = -1 // configured "stable_for: 0s": do not wait
	}
	opts := SourceOptions{
		URL: f.File.Source, PrivateKeyFile: f.File.SFTP.PrivateKeyFile, Password: f.File.SFTP.Password,
		KnownHostsFile: f.File.SFTP.KnownHostsFile, KnownHosts: f.File.SFTP.KnownHosts, PrivateKey: f.File.SFTP.PrivateKey, DoneMarker: f.File.DoneMarker, StableFor: stable,
		ArchiveDir: f.File.ArchiveDir(), MaxFileSize: int64(f.File.MaxFileSize),
	}
	parse := ParseOptions{Feed: f.Name, Key: f.File.Key, Columns: f.File.Columns, StatusColumn: f.File.StatusColumn,
		InactiveValues: f.File.InactiveValues, Limits: LimitsOf(f.File)}
	return reconcile.Feed{
		Source: reconcile.Source{Tenant: tenant, Name: "file:" + f.Name, Authoritative: f.AuthoritativeEnabled(), Withdraw: true,
			Partial: f.File.Partial},
		Feed:   f.Name,
		Kind:   "file",
		Limits: limits,
		Fetch: func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			src, err := OpenSource(ctx, opts)
			if err != nil {
				return reconcile.Snapshot{}, nil, err
			}
			defer src.Close()
			fi, err := src.Newest(ctx)
			if errors.Is(err, ErrNoFile) || errors.Is(err, ErrNotReady) {
				return reconcile.Snapshot{}, nil, fmt.Errorf("%w: %w", reconcile.ErrNothingNew, err)
			}
			if err != nil {
				return reconcile.Snapshot{}, nil, err
			}
			data, err := src.Read(ctx, fi)
			if err != nil {
				return reconcile.Snapshot{}, nil, err
			}
			snap, err := Parse(fi.Name, data, parse)
			if err != nil {
				return reconcile.Snapshot{}, nil, err
			}
			snap.Fetched = now().UTC()
			done := func(ctx context.Context) error {
				if opts.ArchiveDir == "" {
					return nil
				}
				src, err := OpenSource(ctx, opts)
				if err != nil {
					return err
				}
				defer src.Close()
				return src.Archive(ctx, fi, now().UTC())
			}
			return snap, done, nil
		},
		Archive: func(ctx context.Context, snap reconcile.Snapshot) error {
			return archiveRead(ctx, opts, snap, now().UTC())
		},
	}
}

// ImportOptions are an admin's choices for one import.
type ImportOptions = reconcile.ImportOptions

// ImportFeed is an admin's one-off import of a file's content: source
// "admin", adding and updating; with FullRoster, the admin's claims on
// people the file omits are withdrawn. Invites go to cards the import
// creates only when Invite is set. An import only changes the attributes
// the file has columns for (it is partial): a column the file lacks leaves
// the attribute as it is, and so does an empty cell unless ClearEmpty.
// It brings in people nobody else enables, and does not take over those
// other sources enable (reconcile.Source.Import).
// The file is held to the default Limits (callers check its size before
// they read it: see CheckImportSize).
func ImportFeed(tenant, name string, data []byte, opt ImportOptions, limits reconcile.Limits) reconcile.Feed {
	invite := opt.Invite
	return reconcile.Feed{
		Source: reconcile.Source{Tenant: tenant, Name: "admin", Authoritative: true, Withdraw: opt.FullRoster, Invite: &invite,
			Partial: true, ClearEmpty: opt.ClearEmpty, Import: true},
		Feed:   "import",
		Kind:   "import",
		Limits: limits,
		Fetch: func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			snap, err := Parse(name, data, ParseOptions{Feed: "import"})
			return snap, nil, err
		},
	}
}

// CheckImportSize refuses, before it is read, an import file of size
// bytes over the default max_file_size (the limit ImportFeed's parse
// holds it to).
func CheckImportSize(name string, size int64) error {
	if size > config.DefaultMaxFileSize {
		return fileTooLarge("import", name, size, config.DefaultMaxFileSize)
	}
	return nil
}
