#!/usr/bin/env python3
"""Generate keyless (Fulcio-style) sigstore test fixtures from a PRIVATE, scripted sigstore instance.

Usage:
    python3 testdata/make_keyless.py          # regenerate everything under testdata/keyless/
    python3 testdata/make_keyless.py --peer   # ... then run sigstore-python on every fixture and
                                              # rewrite testdata/keyless/verdicts.tsv (needs `pip install sigstore`)
    python3 testdata/make_keyless.py --bench N OUT_DIR
        # for bench/keyless.sh; touches nothing under testdata/keyless/. Writes ONE OCI layout at OUT_DIR
        # with N distinct images registry.airlock.test/bench/app-<i>:v1 (i = 1..N; each a small
        # pseudo-random config + one small layer), each signed like keyless-rekor1 with its own leaf
        # (unreferenced cosign v3 referrers), plus, for the peer, OUT_DIR/../bundles/<i>.sigstore.json
        # and OUT_DIR/../digests.txt (line i = sha256:<hex> of image i). Verify with the committed
        # testdata/keyless/trusted_root.json (the instance's keys are derived from the same labels).

Only `cryptography` is needed to generate. Output is deterministic: every key is derived from a
fixed label, every ECDSA signature is RFC 6979 deterministic, every time is fixed.

The private instance (nothing here points at a real service; all hosts are *.airlock.test):
  * Fulcio-like CA   https://fulcio.airlock.test       P-384 root -> P-384 intermediate -> P-256 leaves
    (leaf: empty subject, critical SAN, KeyUsage digitalSignature, EKU codeSigning, OIDC issuer in
    1.3.6.1.4.1.57264.1.1 (raw) and .1.8 (DER UTF8String), 10 minutes validity, embedded SCT).
  * CT log           https://ct.airlock.test           P-256; RFC 6962 precertificate SCTs.
  * Rekor v1 log     https://rekor.airlock.test        P-256; dsse 0.0.1 entries, inclusion proof,
    checkpoint (origin "rekor.airlock.test - 1234567890"), SET; log id = sha256(SPKI DER).
  * Rekor v2 log     https://log2026.rekor.airlock.test Ed25519; hashedrekord 0.0.2 over the DSSE PAE,
    checkpoint origin "log2026.rekor.airlock.test"; log id = sha256(name || "\\n" || 0x01 || key)
    (the C2SP note key id, as rekor-v2/sigstage publishes it), no integratedTime, no SET.
  * RFC 3161 TSA     https://tsa.airlock.test          P-384 root -> P-256 leaf (critical EKU
    timeStamping); bundles hold the DER TimeStampResp (status + token), as sigstore clients write it.

Output (testdata/keyless/): trusted_root.json, trust_config.json (ClientTrustConfig for
sigstore-python), roots/ (trusted-root variants), bundles/<name>.sigstore.json, layouts/<name>/
(OCI layouts: the signed-p256 image + an unreferenced cosign v3 referrer manifest), verdicts.tsv.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "keyless"
SRC_LAYOUT = HERE / "layouts" / "signed-p256"

IDENTITY = "https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main"
OTHER_IDENTITY = "https://github.com/airlock-test/other/.github/workflows/release.yml@refs/heads/main"
EMAIL_IDENTITY = "signer@airlock.test"
ISSUER = "https://token.actions.githubusercontent.com"
OTHER_ISSUER = "https://oidc.airlock.test"
IMAGE_NAME = "registry.airlock.test/airlock/single"
BENCH_REPO = "registry.airlock.test/bench/app-"  # --bench: image i is BENCH_REPO<i>:v1

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)  # the signing time of every fixture
ISSUED = T0 - timedelta(minutes=2)  # every leaf's notBefore: valid [T0-2m, T0+8m]
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)  # start of every validFor window
FAR = datetime(2045, 1, 1, tzinfo=timezone.utc)  # CA / TSA certificates' notAfter
LATE_CA_START = datetime(2040, 1, 1, tzinfo=timezone.utc)  # roots/ca-late.json validFor.start

V1_URL, V1_ORIGIN = "https://rekor.airlock.test", "rekor.airlock.test - 1234567890"
V2_URL, V2_ORIGIN = "https://log2026.rekor.airlock.test", "log2026.rekor.airlock.test"
CT_URL, FULCIO_URL, TSA_URL = "https://ct.airlock.test", "https://fulcio.airlock.test", "https://tsa.airlock.test"

OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
SHA256 = hashes.SHA256()
ECDSA256 = ec.ECDSA(SHA256, deterministic_signing=True)
DSSE_TYPE = "application/vnd.in-toto+json"
BUNDLE_MT = "application/vnd.dev.sigstore.bundle.v0.3+json"


# ---------------------------------------------------------------------------------------------
# small helpers: deterministic keys, encodings, a minimal DER writer (for SCTs and RFC 3161)
# ---------------------------------------------------------------------------------------------

def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def seed(label: str) -> bytes:
    return sha(b"airlock-keyless-fixture/" + label.encode())


def ec_key(label: str, curve=ec.SECP256R1()):
    """A deterministic EC private key derived from `label`."""
    order = {"secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
             "secp384r1": int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                              "581a0db248b0a77aecec196accc52973", 16)}[curve.name]
    scalar = int.from_bytes(seed(label) + seed(label + "/2"), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


def ed_key(label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed(label))


def spki(key) -> bytes:
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canon(obj) -> bytes:
    """RFC 8785 canonical JSON (sufficient for our ASCII-only, integer-only documents)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def d_seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def d_set(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(sorted(parts)))  # DER SET OF: sorted encodings


def d_int(n: int) -> bytes:
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=False))


def d_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.insert(0, 0x80 | (arc & 0x7F))
        out += bytes(chunk)
    return tlv(0x06, out)


def d_octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def d_utf8(s: str) -> bytes:
    return tlv(0x0C, s.encode())


def d_time(t: datetime, generalized: bool) -> bytes:
    fmt = "%Y%m%d%H%M%SZ" if generalized else "%y%m%d%H%M%SZ"
    return tlv(0x18 if generalized else 0x17, t.strftime(fmt).encode())


# ---------------------------------------------------------------------------------------------
# the private instance: CAs, CT log, Rekor logs, TSA
# ---------------------------------------------------------------------------------------------

def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock.test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca_cert(cn, key, issuer_cert, issuer_key, not_before, path_len, eku=None):
    """A CA certificate (self-signed when issuer_cert is None)."""
    subject = name(cn)
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_cert.subject if issuer_cert else subject)
         .public_key(key.public_key())
         .serial_number(int.from_bytes(seed("serial/" + cn)[:16], "big") >> 1)
         .not_valid_before(not_before).not_valid_after(FAR)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             (issuer_key or key).public_key()), False))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), False)
    signer = issuer_key or key
    return b.sign(signer, hashes.SHA384() if signer.curve.name == "secp384r1" else SHA256,
                  ecdsa_deterministic=True)


class Fulcio:
    """A Fulcio-like CA (root + intermediate) that issues short-lived leaves with embedded SCTs."""

    def __init__(self, label: str, not_before: datetime, ct: "CTLog"):
        self.root_key = ec_key(label + "/root", ec.SECP384R1())
        self.int_key = ec_key(label + "/intermediate", ec.SECP384R1())
        self.root = ca_cert(label + "-root", self.root_key, None, None, not_before, 1)
        self.intermediate = ca_cert(label + "-intermediate", self.int_key, self.root, self.root_key,
                                    not_before, 0, [ExtendedKeyUsageOID.CODE_SIGNING])
        self.ct = ct

    def issue(self, label: str, san: x509.GeneralName, issuer: str, not_before: datetime):
        """Issue a leaf for `san`/`issuer`; returns (leaf certificate, ephemeral P-256 key)."""
        key = ec_key("leaf/" + label)
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([]))
             .issuer_name(self.intermediate.subject)
             .public_key(key.public_key())
             .serial_number(int.from_bytes(seed("serial/leaf/" + label)[:16], "big") >> 1)
             .not_valid_before(not_before).not_valid_after(not_before + timedelta(minutes=10))
             .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.int_key.public_key()), False)
             .add_extension(x509.SubjectAlternativeName([san]), True)
             .add_extension(x509.UnrecognizedExtension(OID_ISSUER_V1, issuer.encode()), False)
             .add_extension(x509.UnrecognizedExtension(OID_ISSUER_V2, d_utf8(issuer)), False))
        # The SCT signs the TBS *without* the SCT list; the final certificate is the same TBS with the
        # SCT list appended as the last extension (no poison extension in either).
        precert = b.sign(self.int_key, hashes.SHA384(), ecdsa_deterministic=True)
        sct_list = self.ct.sct(precert.tbs_certificate_bytes, spki(self.int_key), not_before)
        leaf = b.add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, d_octets(sct_list)), False) \
                .sign(self.int_key, hashes.SHA384(), ecdsa_deterministic=True)
        assert leaf.tbs_precertificate_bytes == precert.tbs_certificate_bytes
        return leaf, key


class CTLog:
    """An RFC 6962 CT log that only hands out embedded precertificate SCTs."""

    def __init__(self, label: str):
        self.key = ec_key(label)
        self.log_id = sha(spki(self.key))

    def sct(self, tbs: bytes, issuer_spki: bytes, when: datetime) -> bytes:
        """Return a TLS-encoded SignedCertificateTimestampList holding one v1 precert SCT."""
        ts = int(when.timestamp() * 1000)
        signed = (struct.pack("!BBQH", 0, 0, ts, 1) + sha(issuer_spki)
                  + len(tbs).to_bytes(3, "big") + tbs + struct.pack("!H", 0))
        sig = self.key.sign(signed, ECDSA256)
        sct = bytes([0]) + self.log_id + struct.pack("!QH", ts, 0) + bytes([4, 3]) + struct.pack("!H", len(sig)) + sig
        return struct.pack("!HH", len(sct) + 2, len(sct)) + sct


def leaf_hash(data: bytes) -> bytes:
    return sha(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def mth(leaves: list) -> bytes:
    """RFC 6962 Merkle tree hash over already leaf-hashed `leaves`."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m: int, leaves: list) -> list:
    """RFC 6962 PATH(m, D[n]): the inclusion proof hashes for leaf `m`, bottom-up."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


class Rekor:
    """A Rekor log (v1: ECDSA P-256 + SET; v2: Ed25519, no SET). Each entry gets its own small
    tree: 5 filler leaves, the entry at index 5, one more filler (tree size 7)."""

    INDEX, SIZE = 5, 7

    def __init__(self, version: int):
        self.version = version
        if version == 1:
            self.key, self.origin, self.url = ec_key("rekor-v1"), V1_ORIGIN, V1_URL
            self.note_name = "rekor.airlock.test"
            self.log_id = sha(spki(self.key))
        else:
            self.key, self.origin, self.url = ed_key("rekor-v2"), V2_ORIGIN, V2_URL
            self.note_name = V2_ORIGIN
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.log_id = sha(self.note_name.encode() + b"\n\x01" + raw)

    def tree(self, body: bytes, filler_tag: str = "") -> list:
        fill = [leaf_hash(f"airlock filler {filler_tag}{i}".encode()) for i in range(self.SIZE - 1)]
        return fill[:self.INDEX] + [leaf_hash(body)] + fill[self.INDEX:]

    def checkpoint(self, size: int, root: bytes) -> str:
        """A C2SP signed note over "<origin>\\n<size>\\n<b64 root>\\n"."""
        text = f"{self.origin}\n{size}\n{b64(root)}\n"
        if self.version == 1:
            sig = self.key.sign(text.encode(), ECDSA256)
        else:
            sig = self.key.sign(text.encode())
        return f"{text}\n\u2014 {self.note_name} {b64(self.log_id[:4] + sig)}\n"

    def entry(self, body: bytes, kind: str, integrated: datetime | None = None, *, tamper=None) -> dict:
        """A bundle tlogEntry for `body`. `tamper` in {None, "proof", "checkpoint"} breaks one thing."""
        leaves = self.tree(body)
        root = mth(leaves)
        proof = audit_path(self.INDEX, leaves)
        assert len(proof) == 3
        if tamper == "proof":  # a proof path taken from another tree: does not reach rootHash
            proof = audit_path(self.INDEX, self.tree(body, "other "))
        ck_root = mth(self.tree(body, "other ")) if tamper == "checkpoint" else root
        e = {"logIndex": str(self.INDEX), "logId": {"keyId": b64(self.log_id)},
             "kindVersion": {"kind": kind, "version": "0.0.1" if self.version == 1 else "0.0.2"}}
        if self.version == 1:
            it = int(integrated.timestamp())
            e["integratedTime"] = str(it)
            setdoc = {"body": b64(body), "integratedTime": it, "logID": self.log_id.hex(), "logIndex": self.INDEX}
            e["inclusionPromise"] = {"signedEntryTimestamp": b64(self.key.sign(canon(setdoc), ECDSA256))}
        e["inclusionProof"] = {"logIndex": str(self.INDEX), "rootHash": b64(root), "treeSize": str(self.SIZE),
                               "hashes": [b64(h) for h in proof],
                               "checkpoint": {"envelope": self.checkpoint(self.SIZE, ck_root)}}
        e["canonicalizedBody"] = b64(body)
        return e


class TSA:
    """An RFC 3161 timestamp authority (P-384 root, P-256 leaf with critical EKU timeStamping)."""

    def __init__(self, label: str):
        self.root_key = ec_key(label + "/root", ec.SECP384R1())
        self.root = ca_cert(label + "-root", self.root_key, None, None, EPOCH, 0)
        self.key = ec_key(label + "/leaf")
        self.leaf = (x509.CertificateBuilder()
                     .subject_name(name(label + "-leaf")).issuer_name(self.root.subject)
                     .public_key(self.key.public_key())
                     .serial_number(int.from_bytes(seed("serial/" + label + "/leaf")[:16], "big") >> 1)
                     .not_valid_before(EPOCH).not_valid_after(FAR)
                     .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
                     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), False)
                     .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), False)
                     .sign(self.root_key, hashes.SHA384(), ecdsa_deterministic=True))

    def timestamp(self, message: bytes, when: datetime) -> bytes:
        """DER TimeStampResp (status granted + TimeStampToken) over sha256(message), genTime `when`."""
        ct_tst = "1.2.840.113549.1.9.16.1.4"
        sha256_alg = d_seq(d_oid("2.16.840.1.101.3.4.2.1"))
        serial = int.from_bytes(seed(f"tsa-serial/{message.hex()}")[:12], "big")
        tst_info = d_seq(d_int(1), d_oid("1.3.6.1.4.1.57264.2"),
                         d_seq(d_seq(d_oid("2.16.840.1.101.3.4.2.1"), b"\x05\x00"), d_octets(sha(message))),
                         d_int(serial), d_time(when, True), d_seq(d_int(1)))
        issuer_name = self.leaf.issuer.public_bytes()
        ess = d_seq(d_seq(d_seq(d_octets(sha(der(self.leaf))),
                                d_seq(d_seq(tlv(0xA4, issuer_name)), d_int(self.leaf.serial_number)))))
        attrs = [d_seq(d_oid("1.2.840.113549.1.9.3"), d_set(d_oid(ct_tst))),
                 d_seq(d_oid("1.2.840.113549.1.9.5"), d_set(d_time(when, False))),
                 d_seq(d_oid("1.2.840.113549.1.9.4"), d_set(d_octets(sha(tst_info)))),
                 d_seq(d_oid("1.2.840.113549.1.9.16.2.47"), d_set(ess))]
        signed_attrs = d_set(*attrs)
        sig = self.key.sign(signed_attrs, ECDSA256)
        signer_info = d_seq(d_int(1), d_seq(issuer_name, d_int(self.leaf.serial_number)), sha256_alg,
                            b"\xa0" + signed_attrs[1:], d_seq(d_oid("1.2.840.10045.4.3.2")), d_octets(sig))
        signed_data = d_seq(d_int(3), d_set(sha256_alg),
                            d_seq(d_oid(ct_tst), tlv(0xA0, d_octets(tst_info))),
                            tlv(0xA0, der(self.leaf)), d_set(signer_info))
        token = d_seq(d_oid("1.2.840.113549.1.7.2"), tlv(0xA0, signed_data))
        return d_seq(d_seq(d_int(0)), token)


# ---------------------------------------------------------------------------------------------
# trusted roots
# ---------------------------------------------------------------------------------------------

def pubkey(key, details: str, start: datetime) -> dict:
    return {"rawBytes": b64(spki(key)), "keyDetails": details, "validFor": {"start": rfc3339(start)}}


def trusted_root(fulcio: Fulcio, ct: CTLog, v1: Rekor, v2: Rekor, tsa: TSA, ca_start=EPOCH) -> dict:
    return {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {"baseUrl": V1_URL, "hashAlgorithm": "SHA2_256", "publicKey": pubkey(v1.key, "PKIX_ECDSA_P256_SHA_256", EPOCH),
             "logId": {"keyId": b64(v1.log_id)}},
            {"baseUrl": V2_URL, "hashAlgorithm": "SHA2_256", "publicKey": pubkey(v2.key, "PKIX_ED25519", EPOCH),
             "logId": {"keyId": b64(v2.log_id)}},
        ],
        "certificateAuthorities": [{
            "subject": {"organization": "airlock.test", "commonName": "fulcio-root"}, "uri": FULCIO_URL,
            "certChain": {"certificates": [{"rawBytes": b64(der(c))} for c in (fulcio.intermediate, fulcio.root)]},
            "validFor": {"start": rfc3339(ca_start)}}],
        "ctlogs": [{"baseUrl": CT_URL, "hashAlgorithm": "SHA2_256", "publicKey": pubkey(ct.key, "PKIX_ECDSA_P256_SHA_256", EPOCH),
                    "logId": {"keyId": b64(ct.log_id)}}],
        "timestampAuthorities": [{
            "subject": {"organization": "airlock.test", "commonName": "tsa-leaf"}, "uri": TSA_URL,
            "certChain": {"certificates": [{"rawBytes": b64(der(c))} for c in (tsa.leaf, tsa.root)]},
            "validFor": {"start": rfc3339(EPOCH)}}],
    }


def client_trust_config(root: dict) -> dict:
    """sigstore-python's --trust-config: the trusted root plus a (never used) signing config."""
    svc = lambda url, v: {"url": url, "majorApiVersion": v, "operator": "airlock.test", "validFor": {"start": rfc3339(EPOCH)}}
    return {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": root,
            "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                              "caUrls": [svc(FULCIO_URL, 1)], "oidcUrls": [svc("https://oauth2.airlock.test", 1)],
                              "rekorTlogUrls": [svc(V1_URL, 1)], "rekorTlogConfig": {"selector": "ANY"},
                              "tsaUrls": [svc(TSA_URL + "/api/v1/timestamp", 1)], "tsaConfig": {"selector": "ANY"}}}


# ---------------------------------------------------------------------------------------------
# bundles
# ---------------------------------------------------------------------------------------------

def pae(ptype: str, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)


def statement(digest_hex: str, image: str = IMAGE_NAME) -> bytes:
    return canon({"_type": "https://in-toto.io/Statement/v1",
                  "subject": [{"name": image, "digest": {"sha256": digest_hex}}],
                  "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}})


def dsse_v001_body(envelope: dict, payload: bytes, sig: bytes, leaf: x509.Certificate) -> bytes:
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    return canon({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": sha(canon(envelope)).hex()},
        "payloadHash": {"algorithm": "sha256", "value": sha(payload).hex()},
        "signatures": [{"signature": b64(sig), "verifier": b64(pem)}]}})


def hashedrekord_v002_body(pae_bytes: bytes, sig: bytes, leaf: x509.Certificate) -> bytes:
    return canon({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(sha(pae_bytes))},
        "signature": {"content": b64(sig), "verifier": {
            "keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": b64(der(leaf))}}}}}})


def make_bundle(leaf, key, subject_hex, *, log: Rekor, integrated=None, tsa: TSA | None = None,
                tamper=None, entry_payload: bytes | None = None, image: str = IMAGE_NAME) -> dict:
    """A cosign-v3-style bundle: DSSE in-toto statement (about `image`@subject) signed by `key`, logged in `log`."""
    payload = statement(subject_hex, image)
    sig = key.sign(pae(DSSE_TYPE, payload), ECDSA256)
    envelope = {"payload": b64(payload), "payloadType": DSSE_TYPE, "signatures": [{"sig": b64(sig)}]}
    if log.version == 1:
        logged = entry_payload or payload  # entry_payload: log an entry for a *different* statement
        logged_sig = key.sign(pae(DSSE_TYPE, logged), ECDSA256)
        logged_env = {"payload": b64(logged), "payloadType": DSSE_TYPE, "signatures": [{"sig": b64(logged_sig)}]}
        body, kind = dsse_v001_body(logged_env, logged, logged_sig, leaf), "dsse"
    else:
        body, kind = hashedrekord_v002_body(pae(DSSE_TYPE, payload), sig, leaf), "hashedrekord"
    material = {"certificate": {"rawBytes": b64(der(leaf))},
                "tlogEntries": [log.entry(body, kind, integrated, tamper=tamper)]}
    if tsa:
        material["timestampVerificationData"] = {"rfc3161Timestamps": [
            {"signedTimestamp": b64(tsa.timestamp(sig, integrated))}]}
    return {"mediaType": BUNDLE_MT, "verificationMaterial": material, "dsseEnvelope": envelope}


# ---------------------------------------------------------------------------------------------
# OCI layouts
# ---------------------------------------------------------------------------------------------

def write_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def image_descriptor() -> dict:
    """The image (not the .sig) entry of signed-p256's index.json."""
    index = json.loads((SRC_LAYOUT / "index.json").read_text())
    (img,) = [m for m in index["manifests"]
              if not m.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith(".sig")]
    return img


def write_layout(dest: Path, bundle_bytes: bytes) -> None:
    """signed-p256's image (without its .sig) plus an unreferenced cosign v3 bundle referrer."""
    img = image_descriptor()
    (dest / "blobs" / "sha256").mkdir(parents=True)
    shutil.copy(SRC_LAYOUT / "oci-layout", dest / "oci-layout")
    src = SRC_LAYOUT / "blobs" / "sha256"
    manifest = json.loads((src / img["digest"].split(":")[1]).read_bytes())
    for d in [img["digest"], manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]:
        shutil.copy(src / d.split(":")[1], dest / "blobs" / "sha256" / d.split(":")[1])
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [img]}, separators=(",", ":")))
    write_referrer(dest, img, bundle_bytes)


def write_referrer(dest: Path, img: dict, bundle_bytes: bytes) -> None:
    """An unreferenced cosign v3 bundle referrer (in blobs/ only) whose subject is the image `img`."""
    empty = write_blob(dest, b"{}")
    layer = write_blob(dest, bundle_bytes)
    referrer = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": BUNDLE_MT,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty},
                "layers": [{"mediaType": BUNDLE_MT, "size": len(bundle_bytes), "digest": layer}],
                "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                                "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
                                "org.opencontainers.image.created": rfc3339(T0)},
                "subject": {"mediaType": img["mediaType"], "size": img["size"], "digest": img["digest"]}}
    write_blob(dest, json.dumps(referrer, separators=(",", ":")).encode())


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

def instance():
    """The private instance of trusted_root.json: (ct, fulcio, rekor v1, rekor v2, tsa)."""
    ct = CTLog("ct-log")
    return ct, Fulcio("fulcio", EPOCH, ct), Rekor(1), Rekor(2), TSA("tsa")


def fixtures():
    """Yield (name, expected, reason, bundle, identity, issuer, trust_config_path)."""
    ct, fulcio, v1, v2, tsa = instance()
    rogue_tsa = TSA("rogue-tsa")
    root = trusted_root(fulcio, ct, v1, v2, tsa)
    late_root = trusted_root(fulcio, ct, v1, v2, tsa, ca_start=LATE_CA_START)
    OUT.mkdir(parents=True)
    (OUT / "roots").mkdir()
    (OUT / "trusted_root.json").write_text(json.dumps(root, indent=2) + "\n")
    (OUT / "trust_config.json").write_text(json.dumps(client_trust_config(root), indent=2) + "\n")
    (OUT / "roots" / "ca-late.json").write_text(json.dumps(late_root, indent=2) + "\n")
    (OUT / "roots" / "ca-late.trust_config.json").write_text(json.dumps(client_trust_config(late_root), indent=2) + "\n")
    default_tc, late_tc = "testdata/keyless/trust_config.json", "testdata/keyless/roots/ca-late.trust_config.json"

    digest = image_descriptor()["digest"].split(":")[1]
    issued = ISSUED
    uri = x509.UniformResourceIdentifier
    leaf, key = fulcio.issue("main", uri(IDENTITY), ISSUER, issued)

    def v1b(leaf=leaf, key=key, **kw):
        return make_bundle(leaf, key, kw.pop("subject", digest), log=v1, integrated=kw.pop("at", T0), **kw)

    ok = "-"
    yield "keyless-rekor1", "pass", ok, v1b(), IDENTITY, ISSUER, default_tc
    yield ("keyless-rekor2-tsa", "pass", ok, make_bundle(leaf, key, digest, log=v2, integrated=T0, tsa=tsa),
           IDENTITY, ISSUER, default_tc)
    e_leaf, e_key = fulcio.issue("email", x509.RFC822Name(EMAIL_IDENTITY), ISSUER, issued)
    yield "keyless-email", "pass", ok, v1b(e_leaf, e_key), EMAIL_IDENTITY, ISSUER, default_tc

    o_leaf, o_key = fulcio.issue("other-san", uri(OTHER_IDENTITY), ISSUER, issued)
    yield ("keyless-wrong-san", "fail", f"leaf SAN is {OTHER_IDENTITY}, not the expected identity",
           v1b(o_leaf, o_key), IDENTITY, ISSUER, default_tc)
    i_leaf, i_key = fulcio.issue("other-issuer", uri(IDENTITY), OTHER_ISSUER, issued)
    yield ("keyless-wrong-issuer", "fail", f"leaf OIDC issuer (.1.1 and .1.8) is {OTHER_ISSUER}",
           v1b(i_leaf, i_key), IDENTITY, ISSUER, default_tc)
    yield ("keyless-ca-outside-window", "fail",
           f"roots/ca-late.json: the CA's validFor starts {rfc3339(LATE_CA_START)}, after signing (and after now)",
           v1b(), IDENTITY, ISSUER, late_tc)
    yield ("keyless-expired-at-signing", "fail", "integratedTime (SET-signed) is T0+20m, after the leaf's notAfter T0+8m",
           v1b(at=T0 + timedelta(minutes=20)), IDENTITY, ISSUER, default_tc)
    yield ("keyless-entry-other-data", "fail",
           "v1 dsse entry (validly proven and SET-signed) logs another statement's payload hash and signature",
           v1b(entry_payload=statement("00" * 32)), IDENTITY, ISSUER, default_tc)
    yield ("keyless-proof-other-data", "fail", "inclusion proof hashes come from another tree: they do not reach rootHash",
           v1b(tamper="proof"), IDENTITY, ISSUER, default_tc)
    yield ("keyless-checkpoint-other-tree", "fail", "checkpoint is validly signed but for another tree's root hash",
           v1b(tamper="checkpoint"), IDENTITY, ISSUER, default_tc)
    yield ("keyless-untrusted-tsa", "fail", "rekor v2 entry; the only timestamp is from a TSA not in the trusted root",
           make_bundle(leaf, key, digest, log=v2, integrated=T0, tsa=rogue_tsa), IDENTITY, ISSUER, default_tc)
    yield ("keyless-subject-not-image", "fail", "in-toto subject digest is sha256:" + "ab" * 32 + ", not the image",
           v1b(subject="ab" * 32), IDENTITY, ISSUER, default_tc)


# ---------------------------------------------------------------------------------------------
# --bench N OUT_DIR: many keyless-rekor1-like images in one layout (bench/keyless.sh)
# ---------------------------------------------------------------------------------------------

def bench_image(layout: Path, i: int) -> dict:
    """Image i: a small pseudo-random config and one small pseudo-random layer; returns its index.json entry."""
    body = b"".join(seed(f"bench/{i}/layer/{k}") for k in range(32))  # 1 KiB, distinct per image
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo(f"etc/airlock-bench-{i}")
        info.size, info.mtime = len(body), 0
        t.addfile(info, io.BytesIO(body))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
                         "config": {"Labels": {"test.airlock.bench": str(i),
                                               "test.airlock.nonce": seed(f"bench/{i}/config").hex()}},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(raw.getvalue()).hex()]}},
                        separators=(",", ":")).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "size": len(config), "digest": write_blob(layout, config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "size": len(layer), "digest": write_blob(layout, layer)}]},
                          separators=(",", ":")).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write_blob(layout, manifest),
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": f"{BENCH_REPO}{i}:v1"}}


def bench(n: int, out: Path) -> int:
    """Write the --bench layout at `out`, and `out`/../bundles/<i>.sigstore.json + `out`/../digests.txt."""
    out = out.resolve()
    bundles, digests_txt = out.parent / "bundles", out.parent / "digests.txt"
    if out.parent == OUT or OUT in out.parent.parents:
        print(f"--bench: {out} is inside {OUT} (the committed fixtures); pick another directory", file=sys.stderr)
        return 2
    for d in (out, bundles):
        if d.exists() and any(d.iterdir()):
            print(f"--bench: {d} exists and is not empty", file=sys.stderr)
            return 2
    ct, fulcio, v1, v2, tsa = instance()
    committed = OUT / "trusted_root.json"
    if committed.exists() and committed.read_text() != json.dumps(trusted_root(fulcio, ct, v1, v2, tsa), indent=2) + "\n":
        print(f"--bench: {committed} is not this instance's root; regenerate it first", file=sys.stderr)
        return 1
    (out / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    bundles.mkdir(exist_ok=True)
    shutil.copy(SRC_LAYOUT / "oci-layout", out / "oci-layout")
    images = []
    for i in range(1, n + 1):
        img = bench_image(out, i)
        leaf, key = fulcio.issue(f"bench/{i}", x509.UniformResourceIdentifier(IDENTITY), ISSUER, ISSUED)
        bundle = make_bundle(leaf, key, img["digest"].split(":")[1], log=v1, integrated=T0, image=f"{BENCH_REPO}{i}")
        data = json.dumps(bundle, separators=(",", ":")).encode()
        (bundles / f"{i}.sigstore.json").write_bytes(data)
        write_referrer(out, img, data)
        images.append(img)
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": images}, separators=(",", ":")))
    digests_txt.write_text("".join(img["digest"] + "\n" for img in images))
    print(f"{n} keyless-signed images in {out}; bundles in {bundles}; digests in {digests_txt}")
    return 0


def peer_command(bundle_rel: str, identity: str, issuer: str, tc: str, digest: str) -> list:
    return ["python3", "-m", "sigstore", "--trust-config", tc, "verify", "identity", "--offline",
            "--bundle", bundle_rel, "--cert-identity", identity, "--cert-oidc-issuer", issuer, "sha256:" + digest]


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--bench"]:
        if len(args) != 3 or not args[1].isdigit() or int(args[1]) < 1:
            print("usage: make_keyless.py --bench N OUT_DIR", file=sys.stderr)
            return 2
        return bench(int(args[1]), Path(args[2]))
    peer = "--peer" in args
    if OUT.exists():
        verdicts = (OUT / "verdicts.tsv").read_bytes() if (OUT / "verdicts.tsv").exists() else None
        readme = (OUT / "README.md").read_bytes() if (OUT / "README.md").exists() else None
        shutil.rmtree(OUT)
    else:
        verdicts = readme = None
    digest = image_descriptor()["digest"].split(":")[1]
    rows, disagreements = [], []
    for fname, expected, reason, bundle, identity, issuer, tc in fixtures():
        (OUT / "bundles").mkdir(exist_ok=True)
        data = json.dumps(bundle, separators=(",", ":")).encode()
        (OUT / "bundles" / f"{fname}.sigstore.json").write_bytes(data)
        write_layout(OUT / "layouts" / fname, data)
        cmd = peer_command(f"testdata/keyless/bundles/{fname}.sigstore.json", identity, issuer, tc, digest)
        verdict = "-"
        if peer:
            env = dict(os.environ, COLUMNS="400", NO_COLOR="1")
            r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
            verdict = "pass" if r.returncode == 0 else "fail"
            errors = [l.split("ERROR", 1)[1].strip() for l in r.stderr.splitlines() if "ERROR" in l]
            msg = re.sub(r"\s+\S+\.py:\d+$", "", errors[-1]) if errors else r.stderr.strip().splitlines()[0]
            print(f"{fname}\texpected={expected}\tsigstore-python={verdict}\t{msg}")
            if verdict != expected:
                disagreements.append(fname)
        rows.append([fname, expected, verdict, reason, " ".join(quote(c) for c in cmd)])
    if peer:
        tsv = "fixture\texpected\tsigstore_python\treason\tpeer_command\n" + "".join("\t".join(r) + "\n" for r in rows)
        (OUT / "verdicts.tsv").write_text(tsv)
    elif verdicts is not None:
        (OUT / "verdicts.tsv").write_bytes(verdicts)  # unchanged inputs -> unchanged verdicts
    if readme is not None:
        (OUT / "README.md").write_bytes(readme)
    if disagreements:
        print("sigstore-python disagrees on:", ", ".join(disagreements), file=sys.stderr)
        return 1
    return 0


def quote(arg: str) -> str:
    return arg if all(c.isalnum() or c in "-_./:=@+" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
