"""Credentials and the capability request built from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import List, Optional, Sequence

from .messages import CreateCapabilityRequest, UUIDLike

__all__ = ["Credentials", "hash_password", "DEFAULT_DOMAINS", "DEFAULT_LIFESPAN_SECONDS"]

#: Domains a capability asks for unless told otherwise.
DEFAULT_DOMAINS: Sequence[str] = ("Dispatcher", "RemoteControl", "Scripting", "Extensions")
#: The server clamps this to its MaxLifeSpan (300 s by default).
DEFAULT_LIFESPAN_SECONDS = 300


def hash_password(password: str) -> str:
    """The wire form of a password: lowercase MD5 hex, no ``$1$`` prefix."""
    return hashlib.md5(password.encode("utf-8")).hexdigest()


@dataclass
class Credentials:
    """Who to authenticate as: a user id, a first and last name, or an e-mail."""

    password: str
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    email: Optional[str] = None
    user_id: Optional[UUIDLike] = None

    @classmethod
    def from_name(cls, full_name: str, password: str) -> "Credentials":
        first, _, last = full_name.strip().partition(" ")
        return cls(password=password, first_name=first, last_name=last.strip())

    def request(self, domains: Sequence[str], lifespan_seconds: int) -> CreateCapabilityRequest:
        domain_list: List[str] = list(domains)
        return CreateCapabilityRequest(
            hashed_passwd=hash_password(self.password),
            first_name=self.first_name,
            last_name=self.last_name,
            email_address=self.email,
            user_id=self.user_id,
            life_span=lifespan_seconds,
            domain_list=domain_list,
        )
