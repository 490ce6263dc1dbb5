"""The normal form of email addresses that decides 'one signature per person'."""

import pytest

from petitions.signatures.mailboxes import InvalidEmail, canonical_email, normalize_email


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jane.Doe@Example.org", "jane.doe@example.org"),
        ("  jane@example.org  ", "jane@example.org"),
        ("jane+petitions@example.org", "jane@example.org"),
        ("j.a.n.e@gmail.com", "jane@gmail.com"),
        ("J.ane+x@googlemail.com", "jane@gmail.com"),
        ("jane@GMAIL.COM", "jane@gmail.com"),
    ],
)
def test_spellings_of_one_mailbox_are_equal(a: str, b: str) -> None:
    assert normalize_email(a) == normalize_email(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("jane.doe@example.org", "janedoe@example.org"),  # dots matter outside Gmail
        ("jane@example.org", "jane@example.com"),
        ("jane@gmail.com", "jane@example.org"),
    ],
)
def test_different_mailboxes_stay_different(a: str, b: str) -> None:
    assert normalize_email(a) != normalize_email(b)


@pytest.mark.parametrize(
    "bad", ["", "jane", "jane@", "@example.org", "jane@@example.org", "jane@example", "a b@example.org"]
)
def test_invalid_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidEmail):
        canonical_email(bad)


def test_canonical_form_keeps_the_mailbox_usable() -> None:
    assert canonical_email(" Jane.Doe+x@Example.ORG ") == "Jane.Doe+x@example.org"
