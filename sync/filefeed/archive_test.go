package filefeed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestArchiveRead: the file an approved run read is archived; a file of
// its name with other content is left where it is; one already gone is
// nothing to do.
func TestArchiveRead(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	drop := t.TempDir()
	opts := SourceOptions{URL: "dir://" + filepath.ToSlash(drop) + "/hr-*.csv", ArchiveDir: "processed", StableFor: -1}
	content := []byte("Email\nann@example.com\n")
	file := filepath.Join(drop, "hr-1.csv")
	os.WriteFile(file, content, 0o600)
	snap, err := Parse("hr-1.csv", content, ParseOptions{Feed: "hr"})
	if err != nil {
		t.Fatal(err)
	}

	os.WriteFile(file, []byte("Email\nbob@example.com\n"), 0o600) // replaced by a file of the same name and size
	if err := archiveRead(ctx, opts, snap, now); err == nil || !strings.Contains(err.Error(), "not the file the run read") {
		t.Fatalf("archiving another file of the name: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the other file moved: %v", err)
	}

	os.WriteFile(file, content, 0o600)
	if err := archiveRead(ctx, opts, snap, now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(drop, "processed", "hr-1.csv.20261123T060000Z")); err != nil {
		t.Fatalf("archived file: %v", err)
	}
	if err := archiveRead(ctx, opts, snap, now); err != nil {
		t.Fatalf("archiving a file already gone: %v", err)
	}
}
