// Package filefeed is the HR file feed: it fetches a roster file from a
// drop folder or an SFTP drop box (fetch*.go), reads CSV, TSV or XLSX into a
// reconcile.Snapshot (parse*.go), and hands it to the sync pipeline
// (feed.go). It decides nothing about cards.
//
// A file is read only when it is complete — its size and modification time
// stable, its done-marker present when one is configured — and read whole,
// or the run fails: a short read is never taken for a shorter roster. SFTP
// host keys are always checked against known_hosts.
package filefeed
