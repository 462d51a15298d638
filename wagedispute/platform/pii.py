"""Personal data at rest: encrypted values, keyed hashes for matching, masks for lists."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class PiiVault:
    """Encrypts, decrypts and hashes personal data with keys derived from one secret."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"wagedispute pii enc")))
        self._hash_key = _derive(secret, b"wagedispute pii hash")

    def encrypt(self, value: str) -> str:
        """Ciphertext for storage."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The stored value, for an explicit, logged reveal."""
        return self._fernet.decrypt(token.encode()).decode()

    def keyed_hash(self, value: str) -> str:
        """A stable HMAC of the normalised value: equal inputs match without decrypting."""
        return hmac.new(self._hash_key, value.strip().upper().encode(), hashlib.sha256).hexdigest()


def _derive(secret: str, info: bytes) -> bytes:
    """A 32-byte key for one purpose, so one leaked key does not give away the other."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def mask_mobile(mobile: str) -> str:
    """138****5678."""
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 8 else "****"


def mask_id_number(id_number: str) -> str:
    """The first 3 and last 2 characters of an ID number, the rest hidden."""
    return id_number[:3] + "*" * (len(id_number) - 5) + id_number[-2:]
