// Package sshtest gives tests a real OpenSSH server: Debian's /usr/sbin/sshd
// (package openssh-server), started per test on 127.0.0.1 and a free port,
// in the foreground, with a throwaway configuration, host key and client key
// in a temp dir, and the built-in SFTP server (internal-sftp).
//
// Usage:
//
//	s := sshtest.Start(t)                    // stopped in t.Cleanup
//	os.WriteFile(filepath.Join(s.Root, "a.csv"), data, 0o644)
//	url := s.URL("/a.csv")                   // sftp://root@127.0.0.1:PORT/<Root>/a.csv
//	// log in as s.User with the key in s.ClientKeyFile, checking the host
//	// key against s.KnownHostsFile (a line for [127.0.0.1]:PORT)
//
//	p := s.Proxy(t)                          // a TCP proxy in front of sshd
//	p.CutAfter(2 << 20)                      // drop all connections after 2 MiB more server→client bytes
//
// What a caller should know:
//
//   - Who logs in: sshd can only authenticate users other than itself when it
//     runs as root. Tests running as root (this project's CI and dev
//     containers) log in as root; tests running as another user start sshd as
//     that user and log in as that user — nobody else can log in then (checked
//     with an ordinary account, uid 1000; a system account such as nobody is
//     refused). User holds the name either way.
//   - sshd without PAM refuses a locked account ("!…" in /etc/shadow) even
//     for key logins. Start checks that for the login user when it can read
//     /etc/shadow and reports it through testenv.Unavailable with the fix
//     (usermod -p '*' root: no password login, not locked — what Debian's
//     container images have).
//   - Auth is by public key only (s.ClientKeyFile, unencrypted ed25519,
//     authorized in a temp authorized_keys file). Password authentication is
//     off: sshd without PAM checks passwords against /etc/shadow, and these
//     tests do not set a password on a system account.
//   - The SFTP server is not chrooted: it sees the real file system. Root is
//     a fresh temp dir the test may fill; paths given to an SFTP client are
//     absolute, s.Root + "/…" (s.URL builds them).
//   - sshd's config: StrictModes no, UsePAM no, loopback only, no forwarding,
//     PidFile and logs (sshd -e, LogLevel VERBOSE) in the temp dir. Its log is
//     printed with t.Log when the test fails, and Log returns it.
//   - As root, sshd needs its privilege-separation directory /run/sshd; Start
//     creates it (mode 0755, empty) when missing, as the Debian service would.
//   - A missing sshd, or one that does not start, goes through
//     testenv.Unavailable: a skip on a developer's machine, a failure under
//     CI=true.
//   - Stop (in t.Cleanup): SIGKILL to the per-connection processes (found
//     through /proc, deepest first, each reaped by its parent before the
//     parent goes), then SIGTERM to the listener and wait; SIGKILL after 5 s.
//     sshd is started with Pdeathsig=SIGKILL, so a crashed test binary takes
//     it along. sshd itself leaves a zombie now and then (a pre-auth child
//     it does not wait for); under a PID 1 that reaps late (some
//     containers) they linger a while, as they would for any sshd.
//   - Faults: Proxy puts a TCP proxy in front of sshd that can cut every
//     connection after N more bytes from the server (CutAfter: a download
//     cut mid-file, deterministically) or stop forwarding while keeping the
//     connections open (StallAfter: a server that hangs). KillConnections
//     ends sshd's per-connection processes instead, as a server restart or
//     an idle timeout would.
package sshtest
