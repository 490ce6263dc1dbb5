"""The data model; importing this package registers every table on the metadata."""

from .outbox import OutboxMessage
from .petition import STATUSES, CountryCount, Petition
from .signature import Signature
from .user import User

__all__ = ["STATUSES", "CountryCount", "OutboxMessage", "Petition", "Signature", "User"]
