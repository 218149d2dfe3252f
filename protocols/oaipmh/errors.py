"""OAI-PMH 2.0 error conditions: one exception per error code, rendered in one place.

Raise the one that fits where the problem is found; the provider turns any :class:`OaiError`
into an ``<error code="...">`` element in an HTTP 200 response (OAI-PMH section 3.6). Each
class's docstring is the specification's own sentence for its code.

>>> raise IdDoesNotExist("no record oai:natlib.uz:x")
"""

from __future__ import annotations


class OaiError(Exception):
    """An OAI-PMH error condition; ``code`` is the value of the ``code`` attribute."""

    code: str = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or " ".join((self.__doc__ or self.code).split()))

    @property
    def message(self) -> str:
        """The human-readable text that goes inside ``<error>``."""
        return str(self.args[0])

    @property
    def echoes_arguments(self) -> bool:
        """Whether ``<request>`` may repeat the arguments (not for badVerb and badArgument)."""
        return True


class BadArgument(OaiError):
    """The request includes illegal arguments, is missing required arguments, includes a
    repeated argument, or values for arguments have an illegal syntax."""

    code = "badArgument"

    @property
    def echoes_arguments(self) -> bool:
        return False


class BadResumptionToken(OaiError):
    """The value of the resumptionToken argument is invalid or expired."""

    code = "badResumptionToken"


class BadVerb(OaiError):
    """Value of the verb argument is not a legal OAI-PMH verb, the verb argument is missing,
    or the verb argument is repeated."""

    code = "badVerb"

    @property
    def echoes_arguments(self) -> bool:
        return False


class CannotDisseminateFormat(OaiError):
    """The metadata format identified by the value given for the metadataPrefix argument is
    not supported by the item or by the repository."""

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OaiError):
    """The value of the identifier argument is unknown or illegal in this repository."""

    code = "idDoesNotExist"


class NoRecordsMatch(OaiError):
    """The combination of the values of the from, until, set and metadataPrefix arguments
    results in an empty list."""

    code = "noRecordsMatch"


class NoMetadataFormats(OaiError):
    """There are no metadata formats available for the specified item."""

    code = "noMetadataFormats"


class NoSetHierarchy(OaiError):
    """The repository does not support sets."""

    code = "noSetHierarchy"
