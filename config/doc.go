// Package config owns rosterd's configuration: the typed shape of the one
// YAML file users write, the defaults that make the file optional, strict
// loading, and validation that reports every problem with its key path and
// line at once.
//
// Read Config first, then Parse: it decodes the file through yaml.Node (so
// an unknown key or a wrong type names its path and line), expands
// ${NAME} in values, reads *_file secrets, applies defaults and calls
// Validate. Errors are *Error, a list of Problem.
//
// Decisions worth knowing:
//
//   - One pass reports everything: decoding goes on after a problem, and
//     secret files, defaults and validation run even when decoding found
//     some. A value decoding refused is not reported again by validation
//     as missing (see repeats). A new field validates by adding its check
//     to validate; decoding problems come for free.
//   - A file is at most MaxFileSize (1 MiB); configured admin keys, SCIM
//     tokens and webhook secrets are at least MinSecretLength (32) bytes.
//   - ${NAME} is expanded in decoded scalar values only, never in keys and
//     never in the raw text, so a variable's value cannot inject YAML. "$${"
//     writes a literal "${". An unset variable is an error; a variable set to
//     "" is not.
//   - Every relative *_file path resolves against the config file's
//     directory. data_dir and a sqlite dsn stay relative to the working
//     directory, as without a file.
//   - After Parse a secret lives in one field: the content of key_file,
//     token_file, secret_file, url_file, password_file, bind_password_file
//     and dsn_file is moved into its sibling, and the *_file field cleared.
//   - A key written in the file keeps its value even when zero
//     ("max_disable_count: 0"); a key left out, or written without a value,
//     takes its default.
//   - A file that names no tenant gets the tenant "default", as with no file.
//   - Bool settings that default to true are *bool; read them through the
//     methods (AutoMigrateEnabled, AutoInviteEnabled, AuthoritativeEnabled…).
//
// The package must never import another rosterd package (everything
// imports it), read files or the environment anywhere but in Load and Parse
// (secrets are read once, at load), or hold global state: callers pass a
// *Config down.
package config
