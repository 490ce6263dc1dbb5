"""Domain exceptions: the business functions raise them, the views turn them into pages."""


class DomainError(Exception):
    """Base class for every rule the domain refuses to break."""


class PetitionClosed(DomainError):
    """The petition does not take signatures (closed, hidden or not yet open)."""


class TokenInvalid(DomainError):
    """A link's token is malformed, forged, or names nothing that exists."""


class TokenExpired(DomainError):
    """A link's token was genuine but is too old."""


class SignatureInvalidated(DomainError):
    """The signature was invalidated or withdrawn and cannot be confirmed."""


class EmailTaken(DomainError):
    """An account already uses this email address."""
