"""Encrypted sigstore/cosign private-key files, written without PyNaCl.

Format (sigstore/cosign pkg/cosign/keys.go, go-securesystemslib encrypted/encrypted.go):
PEM block "ENCRYPTED SIGSTORE PRIVATE KEY" whose body is JSON
  {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64},
   "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}
ciphertext = NaCl secretbox (XSalsa20-Poly1305, 16-byte tag first) of the PKCS#8 DER private key, key =
scrypt(passphrase, salt, N, r, p, 32).  XSalsa20 is implemented here in pure Python (it only ever encrypts a
few hundred bytes); Poly1305 comes from `cryptography`.
"""
import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives.poly1305 import Poly1305

_M = 0xFFFFFFFF
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"


def _rotl(v, c):
    return ((v << c) & _M) | (v >> (32 - c))


def _rounds(x):
    def qr(a, b, c, d):
        x[b] ^= _rotl((x[a] + x[d]) & _M, 7)
        x[c] ^= _rotl((x[b] + x[a]) & _M, 9)
        x[d] ^= _rotl((x[c] + x[b]) & _M, 13)
        x[a] ^= _rotl((x[d] + x[c]) & _M, 18)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11)
        qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14)


def _state(key, n16):
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", n16)
    return [_SIGMA[0], k[0], k[1], k[2], k[3], _SIGMA[1], n[0], n[1],
            n[2], n[3], _SIGMA[2], k[4], k[5], k[6], k[7], _SIGMA[3]]


def _hsalsa20(key, n16):
    x = _state(key, n16)
    _rounds(x)
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def _salsa20_stream(key, n8, length):
    out = bytearray()
    ctr = 0
    while len(out) < length:
        inp = _state(key, n8 + struct.pack("<Q", ctr))
        x = list(inp)
        _rounds(x)
        out += struct.pack("<16I", *[(x[i] + inp[i]) & _M for i in range(16)])
        ctr += 1
    return bytes(out[:length])


def xsalsa20_stream(key, nonce24, length):
    return _salsa20_stream(_hsalsa20(key, nonce24[:16]), nonce24[16:], length)


def secretbox_seal(key, nonce, msg):
    s = xsalsa20_stream(key, nonce, 32 + len(msg))
    c = bytes(a ^ b for a, b in zip(msg, s[32:]))
    return Poly1305.generate_tag(s[:32], c) + c


def secretbox_open(key, nonce, box):
    tag, c = box[:16], box[16:]
    s = xsalsa20_stream(key, nonce, 32 + len(c))
    Poly1305.verify_tag(s[:32], c, tag)  # raises InvalidSignature
    return bytes(a ^ b for a, b in zip(c, s[32:]))


def _pem(label, body):
    b = base64.encodebytes(body).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _scrypt(passphrase, salt, n=65536, r=8, p=1):
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def encrypt_pkcs8(der, passphrase: bytes, label="ENCRYPTED SIGSTORE PRIVATE KEY"):
    salt, nonce = os.urandom(32), os.urandom(24)
    box = secretbox_seal(_scrypt(passphrase, salt), nonce, der)
    doc = {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1},
                   "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(box).decode()}
    return _pem(label, json.dumps(doc, separators=(",", ":")).encode())


def decrypt_pem(pem_text, passphrase: bytes):
    lines = [l for l in pem_text.strip().splitlines() if not l.startswith("-----")]
    doc = json.loads(base64.b64decode("".join(lines)))
    prm = doc["kdf"]["params"]
    key = _scrypt(passphrase, base64.b64decode(doc["kdf"]["salt"]), prm["N"], prm["r"], prm["p"])
    return secretbox_open(key, base64.b64decode(doc["cipher"]["nonce"]), base64.b64decode(doc["ciphertext"]))
