"""How the lab's devices keep login passwords: hashed in their configuration, as VyOS (encrypted-password)
and EOS (``username ... secret sha512``) do.

The hash is PBKDF2-SHA512 rather than sha512-crypt (Python's crypt module is deprecated), marked
``$lab-pbkdf2$`` so that nobody takes it for a hash a real device would accept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "$lab-pbkdf2$"


def lab_password_hash(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt.encode(), 1000).hex()
    return f"{PREFIX}{salt}${digest}"


def password_matches(password: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 4 or parts[1] != "lab-pbkdf2":
        return False
    return hmac.compare_digest(lab_password_hash(password, parts[2]), stored)


SECRET_RE = re.compile(r"((?:plaintext-password|secret|keys\s+id\s+\S+\s+key)\s+(?:0\s+)?)(?!sha512\s)(\S+)")


def masked(command: str) -> str:
    """A command as a request log keeps it: a cleartext password replaced by stars (the devices keep no
    cleartext either)."""
    return SECRET_RE.sub(r"\1********", command)
