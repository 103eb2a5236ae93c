#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""verify_jwt.py: an independent verifier of tokenpolicy access tokens.

Integration tests use it to check the daemon's JWTs with code that shares
nothing with the daemon: the Ed25519 signature is verified once with
python3-cryptography directly and once through PyJWT, the algorithm is
fixed to EdDSA (never taken from the token), and exp must lie in the
future. It must never accept a token that either check refuses, and never
print anything on stdout but the claims of a valid token.

Usage:
    verify_jwt.py PUBKEY.pem TOKEN
    verify_jwt.py --jwks jwks.json TOKEN

Prints the claims as JSON on stdout and exits 0 when the token is valid;
prints the reason on stderr and exits 1 when it is not (2 for bad usage).
"""

import argparse
import base64
import binascii
import json
import re
import sys
import time

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

REQUIRED_CLAIMS = ["iss", "sub", "uid", "sid", "client", "iat", "exp", "jti"]
IAT_LEEWAY_SEC = 60
TOKEN_MAX = 4095
B64URL = re.compile(r"\A[A-Za-z0-9_-]*\Z")


class Invalid(Exception):
    """The token is not valid; the message says why."""


def b64url_decode(part, what):
    if not B64URL.match(part) or len(part) % 4 == 1:
        raise Invalid(f"{what}: not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as e:
        raise Invalid(f"{what}: {e}") from None


def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Invalid(f"duplicate member {k!r}")
        obj[k] = v
    return obj


def json_object(data, what):
    obj = json.loads(data, object_pairs_hook=no_duplicates)
    if not isinstance(obj, dict):
        raise Invalid(f"{what} is not a JSON object")
    return obj


def load_pem(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise Invalid(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid(f"{path}: not an Ed25519 public key")
    return key


def load_jwks(path, kid):
    with open(path, "rb") as f:
        jwks = json.load(f)
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    if len(keys) != 1:
        raise Invalid(f"{path}: no single key with kid {kid!r}")
    k = keys[0]
    if k.get("kty") != "OKP" or k.get("crv") != "Ed25519":
        raise Invalid(f"{path}: key {kid!r} is not an Ed25519 OKP key")
    raw = b64url_decode(k.get("x", ""), "jwks x")
    if len(raw) != 32:
        raise Invalid(f"{path}: key {kid!r} has {len(raw)} bytes, not 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def split_token(token):
    if len(token) > TOKEN_MAX:
        raise Invalid(f"token is {len(token)} characters, more than {TOKEN_MAX}")
    parts = token.split(".")
    if len(parts) != 3:
        raise Invalid(f"token has {len(parts)} parts, not 3")
    header = json_object(b64url_decode(parts[0], "header"), "header")
    if header.get("alg") != "EdDSA":
        raise Invalid(f"header alg is {header.get('alg')!r}, not 'EdDSA'")
    return parts, header


def verify_with_cryptography(key, parts):
    signature = b64url_decode(parts[2], "signature")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise Invalid("signature does not verify (cryptography)") from None
    return json_object(b64url_decode(parts[1], "payload"), "payload")


def verify_with_pyjwt(key, token):
    # The leeway lets PyJWT accept what the daemon's verifier accepts (iat
    # up to a minute ahead); exp is then checked strictly in check_claims.
    try:
        return jwt.decode(token, key=key, algorithms=["EdDSA"], leeway=IAT_LEEWAY_SEC,
                          options={"require": REQUIRED_CLAIMS, "verify_exp": True,
                                   "verify_iat": True, "verify_aud": False})
    except jwt.PyJWTError as e:
        raise Invalid(f"PyJWT: {e}") from None


def check_claims(claims, now):
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise Invalid(f"claim {name!r} missing")
    for name in ("uid", "iat", "exp"):
        if type(claims[name]) is not int:
            raise Invalid(f"claim {name!r} is not an integer")
    for name in ("iss", "sub", "sid", "client", "jti"):
        if not isinstance(claims[name], str):
            raise Invalid(f"claim {name!r} is not a string")
    if now >= claims["exp"]:
        raise Invalid(f"token expired at {claims['exp']} (now {now})")
    if claims["iat"] > now + IAT_LEEWAY_SEC:
        raise Invalid(f"token issued in the future ({claims['iat']}, now {now})")


def main():
    ap = argparse.ArgumentParser(
        description="Verify a tokenpolicy access token (EdDSA JWT).",
        usage="%(prog)s PUBKEY.pem TOKEN | --jwks JWKS TOKEN")
    ap.add_argument("--jwks", metavar="JWKS", help="key set file instead of a PEM public key")
    ap.add_argument("args", nargs="+", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if len(opts.args) != (1 if opts.jwks else 2):
        ap.error("expected PUBKEY.pem TOKEN, or --jwks JWKS TOKEN")
    token = opts.args[-1].strip()
    try:
        parts, header = split_token(token)
        if opts.jwks:
            key = load_jwks(opts.jwks, header.get("kid"))
        else:
            key = load_pem(opts.args[0])
        claims = verify_with_cryptography(key, parts)
        via_pyjwt = verify_with_pyjwt(key, token)
        if via_pyjwt != claims:
            raise Invalid("PyJWT and cryptography disagree on the claims")
        check_claims(claims, int(time.time()))
    except (Invalid, OSError, ValueError) as e:
        print(f"verify_jwt: invalid token: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
