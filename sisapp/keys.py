"""Secrets the app needs before it can serve: the session key and the key that
encrypts SIS client secrets.

In development a missing key is generated once and kept in the instance folder,
so restarts keep sessions and stored secrets readable. In production a missing key
is a deployment mistake: generating one would silently make every stored secret
unreadable on the next host, so the app refuses to start instead.
"""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class ConfigurationError(RuntimeError):
    """The app cannot start with the configuration it was given."""


def ensure_key(config: dict, name: str, instance_path: str, generate) -> None:
    if config.get(name):
        return
    env_name = f"SISAPP_{name}"
    if config.get("ENV") == "production":
        raise ConfigurationError(
            f"{name} is not set. In production set the {env_name} environment variable "
            f"(or {name} in instance/config.py); see README.md, 'Production'."
        )
    path = Path(instance_path) / name.lower()
    if path.exists():
        config[name] = path.read_text().strip()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    config[name] = value


def new_secret_key() -> str:
    return secrets.token_hex(32)


def new_encryption_key() -> str:
    return Fernet.generate_key().decode()


class SecretUnreadable(ConfigurationError):
    """A stored secret was encrypted with another ENCRYPTION_KEY (a node misconfigured,
    or the key rotated): the run or the page says SY110, never a crash."""


class SecretBox:
    """Encrypts and decrypts SIS client secrets with the app's Fernet key."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode() if isinstance(key, str) else key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(
                "A stored client secret cannot be decrypted: ENCRYPTION_KEY has changed. "
                "Restore the old key or enter the secret again with Edit."
            ) from exc
