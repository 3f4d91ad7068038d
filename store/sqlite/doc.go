// Package sqlite is the embedded default backend: one file, pure Go
// (modernc.org/sqlite), WAL mode, migrations embedded. Writers queue in
// process (SQLite allows one at a time); readers run alongside them.
package sqlite
