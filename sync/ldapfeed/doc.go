// Package ldapfeed is the LDAP snapshot source of the sync pipeline: a feed
// of kind "ldap" reads everyone under a base DN of an OpenLDAP server or an
// Active Directory domain and hands the pipeline (plan, safety brake,
// apply, schedule, locks, runs — package reconcile) a full Snapshot.
//
// What it does:
//
//   - Connection: ldaps://, or ldap:// upgraded with StartTLS (plain only
//     with insecure_plaintext); ca_file and tls_server_name; certificate
//     verification on unless insecure_skip_verify (tests only), done by
//     the feed itself (tls.go) so that a certificate naming the server
//     only in its subject CN (Samba AD's) is taken when ca_file signed it
//     and the CN is the name checked, with a warning, and tls_pin_sha256
//     (a key's pin, curl's form) can replace the CA; a simple
//     bind with bind_dn and bind_password (from the environment with
//     ${VAR}, or from bind_password_file — package config reads both);
//     every request bounded by timeout (go-ldap's SetTimeout: go-ldap has
//     no timeout of its own).
//   - Search: base DN, scope, filter (default: people — inetOrgPerson on
//     OpenLDAP, user accounts that are not computers on AD), paged by hand
//     with the paging control and its cookie, one page in memory at a time
//     (go-ldap's SearchWithPaging would buffer the whole directory).
//   - Group scope: with groups, only their members, nested groups
//     included. On AD the search filter does it (memberOf with
//     LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941), and one more
//     search with the same rule finds the groups nested in each configured
//     group. OpenLDAP has no such rule and its memberOf lists direct groups
//     only, so the feed reads everyone the filter matches and walks the
//     groups itself (groups.go): a member that is no person of the search
//     is read as a group (groupOfNames, groupOfUniqueNames), each group
//     once (a cycle ends there), at most 16 levels deep — deeper fails the
//     run rather than leave people out. Member lists are read with range
//     retrieval on AD (member;range=0-1499, …). Each record's groups
//     attribute names (first RDN value, "Staff") the configured groups the
//     person is in, directly or through nesting, which is what a role rule
//     naming the group's DN matches.
//   - Mapping: defaults for OpenLDAP and AD (see DefaultAttributes),
//     overridable per feed; the key is the directory's immutable id
//     (entryUUID, or objectGUID as a canonical GUID string), so a renamed
//     DN or a changed email follows the same card. A manager DN becomes the
//     manager's email: from the snapshot, or by a base-scope lookup.
//   - Deactivated: userAccountControl bit 0x2 (ACCOUNTDISABLE), wherever the
//     attribute exists; on AD an accountExpires in the past; and the
//     configurable "disabled" attribute (default on OpenLDAP:
//     pwdAccountLockedTime of the ppolicy overlay) — any value but
//     FALSE/0/no deactivates.
//   - Failure is never "everyone left": a failed bind, a timeout, a size or
//     time limit, a lost paging control or cookie, a referral, a dropped
//     connection or any other error before the last page makes Fetch fail
//     with an error that says which (errors.Is with ErrBind, ErrTimeout,
//     ErrSizeLimit, ErrTimeLimit, ErrPaging, ErrReferral, ErrConnection);
//     the run fails and nothing is withdrawn. Entries without a usable email,
//     or with an id or mapped value that is not UTF-8 text, are flagged
//     (Line = the DN, Key = their id) and keep their card as it is.
package ldapfeed
