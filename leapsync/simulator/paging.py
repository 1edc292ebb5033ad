"""Opaque page tokens: the last sequence number served plus the filter's fingerprint, signed.

Pages are ordered by each meter's immutable sequence number, so a meter changing (or a new meter
arriving, which always gets the next number) between two page fetches never makes another meter
be skipped or served twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class TokenError(ValueError):
    """A page token that this simulator did not issue, or issued for another filter."""


class PageTokens:
    """Issues and checks page tokens with a per-simulator signing key."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()[:16]

    def issue(self, last_seq: int, fingerprint: str) -> str:
        """Token for the page after `last_seq` under the filter with `fingerprint`."""
        payload = f"{last_seq}:{fingerprint}".encode()
        raw = payload + b":" + self._sign(payload).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def read(self, token: str, fingerprint: str) -> int:
        """The last sequence number served; TokenError if unknown or reused with another filter."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            seq_text, token_fingerprint, signature = raw.decode().split(":")
            payload = f"{seq_text}:{token_fingerprint}".encode()
            last_seq = int(seq_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenError("Invalid page token") from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise TokenError("Invalid page token")
        if token_fingerprint != fingerprint:
            raise TokenError("Page token was issued for a different filter")
        return last_seq
