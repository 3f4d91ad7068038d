// Package secretbox seals the secrets rosterd must keep and use later (the
// SAML SP private keys it generates; later LDAP bind passwords and webhook
// secrets) under a key-encryption key, with AES-256-GCM.
//
// Read Box first: Seal and Open. A sealed value is text, so it fits the
// TEXT columns the secrets already live in:
//
//	rsb1.<key id>.<base64 of nonce ‖ ciphertext ‖ tag>
//
// The key id is a hash of the key (not the key): Open names the key a value
// was sealed under when this Box lacks it, and a Box may hold older keys
// beside its primary one, for rotation: seal under the new key, open
// under either, and Reseal what the old one sealed (rosterd secrets
// rotate). The caller's associated data binds a sealed
// value to what it is for ("saml_key_pairs/acme"), so a value copied into
// another row does not open there.
//
// What it must never do: put a key or a plaintext into an error, or fall
// back to storing plaintext. A key is 32 raw bytes (NewKey); reading one
// from configuration (config.DecodeKey) or from the key file generated
// in the data directory is the caller's (cmd/rosterd). Derive makes the
// keys of other uses (the invite key) from the one configured key.
package secretbox
