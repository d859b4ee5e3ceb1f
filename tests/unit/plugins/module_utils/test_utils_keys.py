# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key material: RFC 7748 vectors, equality with ``wg pubkey``, clear errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys

WG = shutil.which('wg')
needs_wg = pytest.mark.skipif(WG is None, reason='wg (wireguard-tools) is not installed: apt-get install wireguard-tools')

# RFC 7748 section 5.2: X25519(scalar, u) test vectors.
RFC7748_FUNCTION_VECTORS = [
    ('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
     'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
     'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'),
    ('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
     'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
     '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957'),
]
# RFC 7748 section 6.1: Alice's and Bob's key pairs (private, public).
RFC7748_KEYPAIRS = [
    ('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
     '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
    ('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
     'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
]
RFC7748_SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'

BACKENDS = ['python'] + (['cryptography'] if keys.HAS_CRYPTOGRAPHY else [])


def b64(hex_text):
    return base64.b64encode(binascii.unhexlify(hex_text)).decode('ascii')


def wg_pubkey(private):
    return subprocess.run([WG, 'pubkey'], input=private.encode('ascii'), stdout=subprocess.PIPE,
                          check=True).stdout.decode('ascii').strip()


@pytest.mark.parametrize('scalar,u_coordinate,expected', RFC7748_FUNCTION_VECTORS)
def test_pure_python_x25519_rfc7748_function_vectors(scalar, u_coordinate, expected):
    out = keys.x25519(binascii.unhexlify(scalar), binascii.unhexlify(u_coordinate))
    assert binascii.hexlify(out).decode() == expected


def test_pure_python_x25519_rfc7748_iterated_once_and_1000_times():
    k = u = keys._BASE_POINT
    for i in range(1000):
        k, u = keys.x25519(k, u), k
        if i == 0:
            assert binascii.hexlify(k).decode() == '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079'
    assert binascii.hexlify(k).decode() == '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51'


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('private,public', RFC7748_KEYPAIRS)
def test_public_key_from_private_rfc7748_keypairs(backend, private, public):
    assert keys.public_key_from_private(b64(private), backend=backend) == b64(public)


def test_rfc7748_shared_secret_pure_python():
    alice, bob = RFC7748_KEYPAIRS
    shared_a = keys.x25519(binascii.unhexlify(alice[0]), binascii.unhexlify(bob[1]))
    shared_b = keys.x25519(binascii.unhexlify(bob[0]), binascii.unhexlify(alice[1]))
    assert binascii.hexlify(shared_a).decode() == binascii.hexlify(shared_b).decode() == RFC7748_SHARED


@needs_wg
@pytest.mark.parametrize('private,public', RFC7748_KEYPAIRS)
def test_rfc7748_keypairs_agree_with_wg_pubkey(private, public):
    assert wg_pubkey(b64(private)) == b64(public)


@needs_wg
@pytest.mark.parametrize('backend', BACKENDS)
def test_generated_keys_agree_with_wg_pubkey(backend):
    for dummy in range(5):
        private = keys.generate_private_key()
        assert keys.public_key_from_private(private, backend=backend) == wg_pubkey(private)


@needs_wg
def test_public_key_of_wg_genkey_output():
    private = subprocess.run([WG, 'genkey'], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    for backend in BACKENDS:
        assert keys.public_key_from_private(private, backend=backend) == wg_pubkey(private)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_backends_agree_on_any_32_bytes(raw):
    private = base64.b64encode(raw).decode('ascii')
    results = set(keys.public_key_from_private(private, backend=b) for b in BACKENDS)
    assert len(results) == 1


def test_generated_private_key_is_clamped_and_valid():
    raw = keys.validate_key(keys.generate_private_key(), 'private key')
    assert len(raw) == 32
    assert raw[0] & 7 == 0
    assert raw[31] & 128 == 0 and raw[31] & 64 == 64


def test_generated_keys_are_distinct():
    assert len(set(keys.generate_private_key() for dummy in range(20))) == 20
    assert len(set(keys.generate_psk() for dummy in range(20))) == 20


def test_generate_keypair_matches():
    private, public = keys.generate_keypair()
    assert keys.public_key_from_private(private) == public


@pytest.mark.parametrize('value,fragment', [
    ('', 'is empty'),
    ('   \n', 'is empty'),
    (None, 'is missing'),
    ('abc', 'wrong length: 3 characters'),
    (base64.b64encode(b'\x01' * 31).decode().rstrip('='), 'wrong length: 42 characters'),
    (base64.b64encode(b'\x01' * 33).decode(), 'decodes to 33 bytes'),
    (base64.b64encode(b'\x01' * 34).decode(), 'wrong length: 48 characters'),
    ('!' * 43 + '=', 'not valid base64'),
    ('A' * 43 + '!', 'not valid base64'),
    ('A' * 42 + '==', 'decodes to 31 bytes'),
    (12345, 'must be a string'),
    (b'\xff' * 44, 'non-ASCII'),
])
def test_validate_key_bad_material_gives_clear_errors(value, fragment):
    with pytest.raises(ValueError) as excinfo:
        keys.validate_key(value, 'private key in /etc/wireguard/wg0.key')
    message = str(excinfo.value)
    assert fragment in message
    assert message.startswith('private key in /etc/wireguard/wg0.key')


def test_validate_key_error_never_contains_the_value():
    secret = 'Zm9vYmFyYmF6' * 3 + 'Zm9vYmF'  # 43 chars of base64-looking text
    with pytest.raises(ValueError) as excinfo:
        keys.validate_key(secret, 'PSK')
    assert secret not in str(excinfo.value)


def test_validate_key_accepts_surrounding_whitespace_and_bytes():
    private = keys.generate_private_key()
    assert keys.validate_key('  %s\n' % private, 'k') == base64.b64decode(private)
    assert keys.validate_key(private.encode('ascii'), 'k') == base64.b64decode(private)


def test_public_key_from_private_rejects_bad_key_with_name():
    with pytest.raises(ValueError, match='^private key has the wrong length'):
        keys.public_key_from_private('short')


def test_unknown_backend():
    with pytest.raises(ValueError, match='unknown X25519 backend'):
        keys.public_key_from_private(keys.generate_private_key(), backend='nope')


def test_psk_fingerprint_is_stable_non_secret_and_distinct():
    psk = keys.generate_psk()
    fp = keys.psk_fingerprint(psk)
    assert fp == keys.psk_fingerprint(psk + '\n')
    assert fp.startswith('sha256:') and len(fp) == len('sha256:') + 16
    assert psk not in fp
    assert fp != keys.psk_fingerprint(keys.generate_psk())


def test_psk_fingerprint_known_value():
    psk = base64.b64encode(b'\x00' * 32).decode()
    assert keys.psk_fingerprint(psk) == 'sha256:' + hashlib.sha256(b'wgmesh-psk\x00' + b'\x00' * 32).hexdigest()[:16]


def test_keys_equal():
    a = keys.generate_psk()
    assert keys.keys_equal(a, a + '\n')
    assert not keys.keys_equal(a, keys.generate_psk())
    assert keys.keys_equal(None, None)
    assert not keys.keys_equal(a, None)


def test_encode_key_length():
    with pytest.raises(ValueError):
        keys.encode_key(b'\x00' * 31)
