"""Encryption of secrets at rest (access-key secrets, registry passwords) with one service key.

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`: authenticated, so a tampered row fails loudly
instead of decrypting to garbage. The key comes from settings or a 0600 file generated on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from openhss.config import Settings


class SecretBox:
    def __init__(self, key_material: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_material).digest()))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        configured = settings.secret_key.get_secret_value()
        if configured:
            return cls(configured.encode())
        return cls(_key_file(settings.ensure_data_dir() / "secret.key"))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with the configured key") from exc


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = base64.urlsafe_b64encode(os.urandom(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key
