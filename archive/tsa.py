"""RFC 3161 time-stamping: ask a TSA for a token over some bytes, and read one back.

The request is built by ``rfc3161-client`` (SHA-256 message imprint, a nonce, the TSA's
certificates requested); replies are read by ``asn1crypto``, which also accepts the
certificate sets that OpenSSL-based TSAs write out of DER order, and signatures are
checked by ``rfc3161-client`` against the CA certificates given (or, without any, against
the certificate inside the token: the token is intact, but who signed it is not vouched for).
The reply is kept on disk exactly as the TSA sent it: ``openssl ts -verify`` reads it.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import cms, tsp
from cryptography import x509
from rfc3161_client import (HashAlgorithm, TimestampRequestBuilder, VerificationError,
                            VerifierBuilder, decode_timestamp_response)

from archive.exceptions import ArchiveError

TIMEOUT = 20.0  # seconds for one TSA request
SHA256_OID = "2.16.840.1.101.3.4.2.1"


class TsaError(ArchiveError):
    """A TSA could not be reached, or its reply is not a valid token for the request."""


@dataclass(frozen=True)
class Token:
    """What a time-stamp reply says (nothing here is trusted until ``check_token``)."""

    gen_time: datetime
    hash_algorithm: str  # dotted OID, e.g. SHA-256's 2.16.840.1.101.3.4.2.1
    imprint: bytes
    serial: int
    tsa_name: str  # the TSA's name in the token, else its signing certificate's subject
    nonce: int | None

    @property
    def time_text(self) -> str:
        """``gen_time`` as ISO 8601 UTC with a Z, like every time lifeboat records."""
        return self.gen_time.isoformat().replace("+00:00", "Z")


def request_token(url: str, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """POST a SHA-256 time-stamp query over ``data`` to the TSA at ``url``; the reply's bytes.

    Raises ``TsaError`` when the TSA is unreachable, refuses, or answers with a token over
    something else (imprint or nonce not ours)."""
    query = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
             .cert_request(cert_request=True).nonce(nonce=True).build())
    request = urllib.request.Request(url, data=query.as_bytes(), method="POST", headers={
        "Content-Type": "application/timestamp-query",
        "Accept": "application/timestamp-reply"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            reply = answer.read()
    except urllib.error.HTTPError as exc:
        raise TsaError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TsaError(f"{url} unreachable: {reason}") from None
    token = read_token(reply)  # raises TsaError on a refusal or a reply that is not a token
    if token.imprint != hashlib.sha256(data).digest():
        raise TsaError(f"{url} time-stamped other bytes than the ones sent")
    if token.nonce != query.nonce:
        raise TsaError(f"{url} answered with another request's nonce (a replayed reply?)")
    return reply


def read_token(reply: bytes) -> Token:
    """Parse a time-stamp reply (``.tsr``); ``TsaError`` if it is no granted token."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]
        if status["status"].native not in ("granted", "granted_with_mods"):
            text = "; ".join(status["status_string"].native or []) if status["status_string"] \
                else ""
            raise TsaError(f"the TSA refused: {status['status'].native} {text}".strip())
        signed = response["time_stamp_token"]["content"]
        info = signed["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        return Token(
            gen_time=info["gen_time"].native,
            hash_algorithm=imprint["hash_algorithm"]["algorithm"].dotted,
            imprint=imprint["hashed_message"].native,
            serial=info["serial_number"].native,
            tsa_name=_name_text(info["tsa"]) or _signer_subject(signed),
            nonce=info["nonce"].native,
        )
    except TsaError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TsaError(f"not an RFC 3161 time-stamp reply ({exc})") from None


def check_token(reply: bytes, message: bytes, ca_certs: list[x509.Certificate] | None
                ) -> Token:
    """The token in ``reply``, once its imprint is checked to be ``message``'s SHA-256 and its
    signature checked: chaining to one of ``ca_certs``, or (None) by the certificate it
    carries. Raises ``TsaError`` saying what is wrong."""
    token = read_token(reply)
    if token.hash_algorithm != SHA256_OID:
        digest = {"2.16.840.1.101.3.4.2.2": hashlib.sha384,
                  "2.16.840.1.101.3.4.2.3": hashlib.sha512}.get(token.hash_algorithm)
        if digest is None:
            raise TsaError(f"the token uses hash algorithm {token.hash_algorithm}, "
                           "which lifeboat does not check")
    else:
        digest = hashlib.sha256
    if token.imprint != digest(message).digest():
        raise TsaError("the token's message imprint is not the hash of the manifest "
                       "(manifest or token altered)")
    der = der_certificate_order(reply)
    try:
        response = decode_timestamp_response(der)
        roots = ca_certs if ca_certs is not None else [
            x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
        if not roots:
            raise TsaError("the token carries no certificate: give --tsa-ca with the TSA's "
                           "certificate to check its signature")
        builder = VerifierBuilder()
        for cert in roots:
            builder = builder.add_root_certificate(cert)
        builder.build().verify_message(response, message)
    except (VerificationError, ValueError) as exc:
        what = "does not chain to the CA given" if ca_certs is not None and \
            "certificate" in str(exc).lower() else "is not valid"
        raise TsaError(f"the token's signature {what}: {_openssl_reasons(str(exc))}") from None
    return token


def der_certificate_order(reply: bytes) -> bytes:
    """``reply`` with its certificate set in DER order (SET OF sorted by encoding), which
    ``rfc3161-client`` requires and some TSAs (OpenSSL's ``ts -reply``) do not write. The
    set is outside what the TSA signed, so the signature is unchanged."""
    response = tsp.TimeStampResp.load(reply)
    signed = response["time_stamp_token"]["content"]
    certs = [c.dump() for c in signed["certificates"]] if signed["certificates"] else []
    if certs == sorted(certs):
        return reply
    signed["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices.load(c) for c in sorted(certs)])
    return response.dump()


def _openssl_reasons(message: str) -> str:
    """The readable part of an OpenSSL error stack as rfc3161-client words it."""
    reasons = re.findall(r'(?:reason|data): "([^"]+)"', message)
    return "; ".join(dict.fromkeys(reasons)) if reasons else message


def load_ca_file(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM (or DER) file given with ``--tsa-ca``."""
    data = Path(path).read_bytes()
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data \
            else [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TsaError(f"{path}: no certificate found ({exc}); give the TSA's CA "
                       "certificate in PEM") from None
    return certs


def _name_text(name) -> str:
    """The TSA's GeneralName (often a directory name) as text; "" if absent."""
    if not name or name.native is None:
        return ""
    if name.name == "directory_name":
        return name.chosen.human_friendly
    return str(name.native)


def _signer_subject(signed) -> str:
    for signer in signed["signer_infos"]:
        sid = signer["sid"]
        if sid.name != "issuer_and_serial_number":
            continue
        serial = sid.chosen["serial_number"].native
        for choice in signed["certificates"] or []:
            cert = choice.chosen
            if getattr(cert, "serial_number", None) == serial:
                return cert.subject.human_friendly
    return "unknown TSA"
