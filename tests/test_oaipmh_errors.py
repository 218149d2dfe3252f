"""The OAI-PMH error classes: one per code of the specification, with its sentence."""

from __future__ import annotations

import pytest

from protocols.oaipmh import errors

SPEC_CODES = {
    "badArgument",
    "badResumptionToken",
    "badVerb",
    "cannotDisseminateFormat",
    "idDoesNotExist",
    "noRecordsMatch",
    "noMetadataFormats",
    "noSetHierarchy",
}


def _classes() -> list[type[errors.OaiError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.OaiError)
        and value is not errors.OaiError
    ]


def test_one_class_per_spec_code() -> None:
    assert sorted(cls.code for cls in _classes()) == sorted(SPEC_CODES)


@pytest.mark.parametrize("cls", _classes(), ids=lambda cls: cls.code)
def test_default_message_is_the_spec_sentence_on_one_line(cls: type[errors.OaiError]) -> None:
    message = cls().message
    assert message == " ".join((cls.__doc__ or "").split())
    assert "\n" not in message and len(message) > 20


def test_given_message_wins() -> None:
    assert errors.IdDoesNotExist("no record x").message == "no record x"


def test_only_bad_verb_and_bad_argument_hide_the_arguments() -> None:
    hiding = {cls.code for cls in _classes() if not cls().echoes_arguments}
    assert hiding == {"badVerb", "badArgument"}
