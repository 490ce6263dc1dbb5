"""The data model; importing this package registers every table on the metadata."""

from .operations import (
    AuditEntry,
    BlockedDomain,
    BlockedNetwork,
    Invalidation,
    PetitionUpdate,
    Report,
    UpdateDelivery,
)
from .outbox import OutboxMessage
from .petition import STATUSES, CountryCount, GroupDomain, HourlyCount, Petition, SupporterGroup
from .revision import PetitionRevision
from .signature import FormStamp, Signature
from .user import User

__all__ = [
    "STATUSES", "AuditEntry", "BlockedDomain", "BlockedNetwork", "CountryCount", "FormStamp", "GroupDomain", "HourlyCount",
    "Invalidation", "OutboxMessage", "Petition", "PetitionRevision", "PetitionUpdate", "Report", "Signature", "SupporterGroup",
    "UpdateDelivery", "User",
]
