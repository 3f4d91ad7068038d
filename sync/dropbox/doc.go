// Package dropbox is rosterd's hosted drop box: the place a file feed with
// source: upload receives its HR files, over HTTPS (PUT /drop/{tenant}/{feed}
// with the feed's upload token) and, when drop_box.sftp_listen is set, over
// SFTP (an embedded server, one user per feed). It stores uploads; the feed
// reads them as it reads any folder (sync/filefeed, a dir:// source over the
// inbox), at its next scheduled run or at once with run_on_upload.
//
// Decisions written down here:
//
//   - Folders: <drop_box.dir>/<tenant>/<feed>/inbox holds complete uploads,
//     the folder the feed reads (glob "*", archive "processed" below it as
//     for any folder feed); …/incoming holds uploads in progress, outside
//     the inbox, so that the feed never sees one. An upload is written to
//     incoming, fsynced, and linked into the inbox under a new name
//     "<UTC time>-<name>" (never replacing a file: two uploads of
//     "employees.csv" are two files, the newer read), then the inbox folder
//     is fsynced. A transfer that does not end well — the connection
//     dropped, the body shorter than its Content-Length, over the size
//     limit, empty — is deleted from incoming and never reaches the inbox.
//     Since an upload is whole when it appears, the feed does not wait for
//     the file to be stable (stable_for and done_marker are refused on it).
//   - Size limit: the feed's max_file_size (default 200MiB), checked on
//     Content-Length before a byte is read and on every write.
//   - Upload tokens: a feed has the token of its configuration
//     (upload.token or upload.token_file) and/or one made through the admin
//     API (POST /api/v1/tenants/{t}/feeds/{f}/upload-token), shown once and
//     stored as its SHA-256 like the admin keys and SCIM tokens (kind
//     "upload_token", name = the feed). Making a new one through the API
//     revokes the one made before (a rotation: the new token works at once);
//     the file's token stays until the file drops it. Making and revoking
//     are audit lines (upload_token.created / .revoked) naming the admin
//     key, never the token. Tokens are compared
//     as hashes in constant time; a token of one feed is refused by every
//     other feed, of its tenant or any other.
//   - SFTP users are "<tenant>.<feed>" (feed names have no dots), logging in
//     with a key of upload.authorized_keys / upload.authorized_keys_file or
//     with upload.password (held as its SHA-256, compared in constant
//     time). A session offers the sftp subsystem only: no shell, exec, pty,
//     environment, agent or port forwarding. The user's root "/" is the
//     feed's inbox, write-only: a file may be created directly in it
//     ("put employees.csv" or "/employees.csv"); reads, listings of any
//     other folder, folders, renames, removals and links are refused with
//     "permission denied". A path with a ".." element is refused as it
//     is, before pkg/sftp's path cleaning could turn "/../x.csv" into
//     "/x.csv" (dotdot.go); a path into a folder ("sub/x.csv",
//     "/etc/passwd") is refused too. A read-write open is taken as a
//     write (Go's sftp client opens so): its reads fail. Listing "/" answers
//     an empty folder: what was uploaded is not readable back.
//   - The host key is ed25519, generated at the first start into
//     drop_box.host_key_file (default data_dir/dropbox_host_ed25519, mode
//     0600) and kept; its fingerprint is logged at every start so that the
//     operator can hand it to HR for their known_hosts.
//   - run_on_upload queues a run of the feed (trigger "upload"); uploads
//     that arrive while one is queued or running coalesce into one more
//     run, and a run refused because another replica holds the feed's lock
//     is tried again shortly after.
//   - SFTP connections get 30 s for the handshake and login, and are
//     closed after 10 minutes without a byte from the client. Metrics:
//     rosterd_dropbox_uploads_total{via,result} and
//     rosterd_dropbox_sftp_logins_total{method,result}.
//   - The feeds change while the daemon runs (SetFeeds: the file's upload
//     feeds and those the admin API made, at every registry change, on
//     every replica). A request or SFTP session holds the feed it looked
//     up: an upload already in progress when its feed is removed lands
//     whole; the next upload, login or file of an open SFTP session is
//     refused as for an unknown feed. A removed feed's run_on_upload loop
//     stops after the run in progress; an added one's starts at once.
//   - Replicas: each replica stores uploads in its own drop_box.dir; with
//     several replicas put drop_box.dir on storage they share, or route
//     /drop/ and the SFTP port to one of them.
package dropbox
