// Package postgres is the production backend, through pgx's database/sql
// driver: several rosterd replicas share one database. Reads inside a
// transaction lock their rows (FOR UPDATE); a transaction's writes go as
// one statement; migrations take an advisory lock so that replicas
// starting together migrate once.
package postgres
