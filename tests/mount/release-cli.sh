#!/bin/bash
# The release authors' tools (SPEC §2, §4.9): charmfs --keygen writes an
# Ed25519 key pair (private 0600, public 0644, never over an existing file),
# and charmfs --sign-release prints the hex signature of VERSION "\n" +
# the archive's SHA-256, which openssl verifies with the public key; a
# tampered archive, another version or another key does not verify.
# Usage errors exit 2. No mount is needed.
. "$SRCDIR/tests/mount/lib.sh"

cd "$T"
check "keygen" "$CHARMFS" --keygen "$T/rel" >/dev/null
expect_eq "private key mode" "600" "$(stat -c %a "$T/rel.pem")"
expect_eq "public key mode" "644" "$(stat -c %a "$T/rel.pub.pem")"
check "the private key is Ed25519" sh -c "openssl pkey -in '$T/rel.pem' -noout -text | grep -q ED25519"
check "the public key is Ed25519" sh -c "openssl pkey -pubin -in '$T/rel.pub.pem' -noout -text | grep -q ED25519"
"$CHARMFS" --keygen "$T/rel" >/dev/null 2>&1
expect_eq "keygen never overwrites a key" "1" "$?"

mkdir -p "$T/a/charms/trusty"
echo '{}' >"$T/a/packages.json"
tar -C "$T/a" -czf "$T/0.2.0.tar.gz" packages.json
sig=$("$CHARMFS" --sign-release "$T/rel.pem" "$T/0.2.0.tar.gz")
check "a signature is 128 hex digits" sh -c "echo '$sig' | grep -Eqx '[0-9a-f]{128}'"

# verify VERSION SIGHEX FILE [PUBKEY]: openssl's answer for the signed message.
verify() {
	python3 -c '
import hashlib, sys
open(sys.argv[4] + "/msg", "wb").write(sys.argv[1].encode() + b"\n" + hashlib.sha256(open(sys.argv[3], "rb").read()).digest())
open(sys.argv[4] + "/sig.bin", "wb").write(bytes.fromhex(sys.argv[2]))' "$1" "$2" "$3" "$T"
	openssl pkeyutl -verify -rawin -pubin -inkey "${4:-$T/rel.pub.pem}" -in "$T/msg" -sigfile "$T/sig.bin" >/dev/null 2>&1
}
not() { ! "$@"; }
check "openssl verifies it" verify 0.2.0 "$sig" "$T/0.2.0.tar.gz"
check "not for another version" not verify 0.3.0 "$sig" "$T/0.2.0.tar.gz"
cp "$T/0.2.0.tar.gz" "$T/tampered.tar.gz"
printf 'x' >>"$T/tampered.tar.gz"
check "not for a changed archive" not verify 0.2.0 "$sig" "$T/tampered.tar.gz"
"$CHARMFS" --keygen "$T/other" >/dev/null
check "not with another key" not verify 0.2.0 "$sig" "$T/0.2.0.tar.gz" "$T/other.pub.pem"
sig2=$("$CHARMFS" --sign-release "$T/rel.pem" "$T/tampered.tar.gz" 0.4.0)
check "an explicit version" verify 0.4.0 "$sig2" "$T/tampered.tar.gz"

"$CHARMFS" --sign-release "$T/rel.pem" "$T/tampered.tar.gz" >/dev/null 2>"$T/err"
expect_eq "a name without a version needs one" "2" "$?"
check "and says so" grep -q "VERSION" "$T/err"
"$CHARMFS" --sign-release "$T/rel.pem" "$T/missing.tar.gz" 0.1.0 >/dev/null 2>&1
expect_eq "a missing archive" "1" "$?"
"$CHARMFS" --sign-release "$T/rel.pub.pem" "$T/0.2.0.tar.gz" >/dev/null 2>&1
expect_eq "a public key cannot sign" "1" "$?"
"$CHARMFS" --keygen >/dev/null 2>&1
expect_eq "keygen without a name" "2" "$?"
"$CHARMFS" --sign-release "$T/rel.pem" >/dev/null 2>&1
expect_eq "sign-release without an archive" "2" "$?"

finish
