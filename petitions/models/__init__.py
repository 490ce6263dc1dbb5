"""The data model; importing this package registers every table on the metadata."""

from petitions.models.image import PetitionImage
from petitions.models.log import LogEntry, LogRemoval, LogTile, PetitionLog
from petitions.models.milestone import Milestone
from petitions.models.operations import (
    AuditEntry,
    BlockedDomain,
    BlockedNetwork,
    Invalidation,
    PetitionUpdate,
    Report,
    UpdateDelivery,
)
from petitions.models.outbox import OutboxMessage
from petitions.models.outcome import PaperBatch, PetitionResponse
from petitions.models.petition import STATUSES, CountryCount, GroupDomain, HourlyCount, Petition, SupporterGroup
from petitions.models.revision import PetitionRevision
from petitions.models.signature import FormStamp, Signature
from petitions.models.translation import PetitionTranslation
from petitions.models.user import User
from petitions.models.webhook import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "STATUSES",
    "AuditEntry",
    "BlockedDomain",
    "BlockedNetwork",
    "CountryCount",
    "FormStamp",
    "GroupDomain",
    "HourlyCount",
    "Invalidation",
    "LogEntry",
    "LogRemoval",
    "LogTile",
    "Milestone",
    "OutboxMessage",
    "PaperBatch",
    "Petition",
    "PetitionImage",
    "PetitionLog",
    "PetitionResponse",
    "PetitionRevision",
    "PetitionTranslation",
    "PetitionUpdate",
    "Report",
    "Signature",
    "SupporterGroup",
    "UpdateDelivery",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
