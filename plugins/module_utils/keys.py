# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard key material: generation, validation, public key derivation.

Keys are Curve25519 (X25519) keys encoded as base64 of 32 raw bytes, exactly as
``wg genkey``/``wg pubkey``/``wg genpsk`` print them.

The X25519 implementation is the ``cryptography`` package when it is importable;
otherwise a small pure-Python RFC 7748 Montgomery ladder is used, so no key ever
has to be handed to a subprocess. Error messages never contain key material.

Used on the nodes (by the modules) and on the controller (by the filters for an
offline render), so this file has no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import os

try:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the node
    HAS_CRYPTOGRAPHY = False

KEY_BYTES = 32
KEY_B64_LEN = 44

# Curve25519 field prime and the (A - 2) / 4 constant of RFC 7748 section 5.
_P = 2 ** 255 - 19
_A24 = 121665
_BASE_POINT = b'\x09' + b'\x00' * 31

BACKENDS = ('cryptography', 'python')


def default_backend():
    """Name of the X25519 implementation used when none is asked for."""
    return 'cryptography' if HAS_CRYPTOGRAPHY else 'python'


def validate_key(b64, what='key'):
    """Decode a base64 WireGuard key and return its 32 raw bytes.

    Raises ValueError with a message naming ``what`` and saying what to do.
    The value itself never appears in the message.
    """
    if b64 is None:
        raise ValueError('%s is missing: expected 44 base64 characters as printed by "wg genkey"' % what)
    if isinstance(b64, bytes):
        try:
            b64 = b64.decode('ascii')
        except UnicodeDecodeError:
            raise ValueError('%s is not valid base64 text (it holds non-ASCII bytes): expected 44 base64 '
                             'characters as printed by "wg genkey"' % what)
    if not isinstance(b64, str):
        raise ValueError('%s must be a string, not %s' % (what, type(b64).__name__))
    text = b64.strip()
    if not text:
        raise ValueError('%s is empty: expected 44 base64 characters as printed by "wg genkey"' % what)
    if len(text) != KEY_B64_LEN:
        raise ValueError('%s has the wrong length: %d characters, expected 44 base64 characters '
                         '(32 bytes) as printed by "wg genkey"' % (what, len(text)))
    try:
        raw = base64.b64decode(text.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError('%s is not valid base64: expected 44 base64 characters (A-Z a-z 0-9 + /, '
                         'ending in "=") as printed by "wg genkey"' % what)
    if len(raw) != KEY_BYTES:
        raise ValueError('%s decodes to %d bytes, expected 32 (44 base64 characters ending in "=") as printed '
                         'by "wg genkey"' % (what, len(raw)))
    return raw


def encode_key(raw):
    """Base64 text of 32 raw key bytes."""
    if len(raw) != KEY_BYTES:
        raise ValueError('a WireGuard key is 32 bytes, got %d' % len(raw))
    return base64.b64encode(raw).decode('ascii')


def _clamp(raw):
    """Clamp a scalar the way wg genkey does (RFC 7748 decodeScalar25519)."""
    b = bytearray(raw)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


def x25519(scalar, u_coordinate):
    """Pure-Python X25519(k, u) of RFC 7748 section 5 (raw 32-byte in, 32-byte out).

    Not constant time: used only as a fallback when ``cryptography`` is missing,
    on keys generated on the same node.
    """
    if len(scalar) != KEY_BYTES or len(u_coordinate) != KEY_BYTES:
        raise ValueError('X25519 inputs are 32 bytes each')
    k = int.from_bytes(_clamp(scalar), 'little')
    u = bytearray(u_coordinate)
    u[31] &= 127
    x1 = int.from_bytes(bytes(u), 'little') % _P
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        k_t = (k >> t) & 1
        swap ^= k_t
        if swap:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = k_t
        a = (x2 + z2) % _P
        aa = a * a % _P
        b = (x2 - z2) % _P
        bb = b * b % _P
        e = (aa - bb) % _P
        c = (x3 + z3) % _P
        d = (x3 - z3) % _P
        da = d * a % _P
        cb = c * b % _P
        x3 = (da + cb) * (da + cb) % _P
        z3 = x1 * (da - cb) * (da - cb) % _P
        x2 = aa * bb % _P
        z2 = e * (aa + _A24 * e) % _P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(KEY_BYTES, 'little')


def _public_raw(raw_private, backend):
    if backend == 'cryptography':
        if not HAS_CRYPTOGRAPHY:
            raise ValueError('the cryptography backend was asked for but the Python package "cryptography" '
                             'is not importable here')
        public = X25519PrivateKey.from_private_bytes(raw_private).public_key()
        return public.public_bytes(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)
    if backend == 'python':
        return x25519(raw_private, _BASE_POINT)
    raise ValueError('unknown X25519 backend %r, expected one of %s' % (backend, ', '.join(BACKENDS)))


def generate_private_key():
    """A new private key, base64, clamped like ``wg genkey`` output."""
    return encode_key(_clamp(os.urandom(KEY_BYTES)))


def generate_psk():
    """A new preshared key, base64 of 32 random bytes, like ``wg genpsk``."""
    return encode_key(os.urandom(KEY_BYTES))


def public_key_from_private(b64, backend=None, what='private key'):
    """Base64 public key of a base64 private key (like ``wg pubkey``)."""
    raw = validate_key(b64, what)
    return encode_key(_public_raw(raw, backend or default_backend()))


def generate_keypair():
    """Return ``(private_b64, public_b64)``."""
    private = generate_private_key()
    return private, public_key_from_private(private)


def psk_fingerprint(b64, what='preshared key'):
    """Non-secret fingerprint of a PSK: the same PSK gives the same value on every node."""
    raw = validate_key(b64, what)
    return 'sha256:' + hashlib.sha256(b'wgmesh-psk\x00' + raw).hexdigest()[:16]


def keys_equal(a, b):
    """Constant-time comparison of two base64 keys (None-safe, whitespace-insensitive)."""
    if a is None or b is None:
        return a is None and b is None
    return hmac.compare_digest(a.strip().encode('ascii', 'replace'), b.strip().encode('ascii', 'replace'))
