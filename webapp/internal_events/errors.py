"""Mistakes in a tracking call. Raised in development and test, logged and counted in production."""


class TrackingError(ValueError):
    """A tracking call that cannot be recorded as asked."""

    kind = "invalid"


class UnknownEventError(TrackingError):
    kind = "unknown_event"


class InvalidPropertyError(TrackingError):
    kind = "invalid_property"


class InvalidIdentifierError(TrackingError):
    kind = "invalid_identifier"


class MissingIdentifierError(TrackingError):
    kind = "missing_identifier"


class InvalidArgumentError(TrackingError):
    kind = "invalid_argument"
