"""The free-text search's folding and id prefixes (leapsync.lib.search), and that PostgreSQL's
own `unaccent` folds the names we fold the same way."""

from __future__ import annotations

from uuid import UUID

import pytest
from django.db import connection

from leapsync.lib.search import fold, id_range, search_column

NAMES = [
    ("San José", "san jose"),
    ("Nguyễn Văn An", "nguyen van an"),
    ("François", "francois"),
    ("Łukasz Żółć", "lukasz zolc"),
    ("Đorđe Ørsted", "dorde orsted"),
    ("Þór Ægir", "thor aegir"),
    ("Straße", "strasse"),
    ("CAFÉ  crème\tbrûlée", "cafe creme brulee"),
    ("O’Neil – Smith", "o'neil - smith"),
    ("Ἀθῆναι", "αθηναι"),
    ("ЁЛКА", "елка"),
    ("İstanbul", "istanbul"),
]


@pytest.mark.parametrize(("text", "folded"), NAMES)
def test_fold_ignores_accents_case_and_blanks_across_scripts(text, folded):
    assert fold(text) == folded


def test_fold_is_idempotent():
    for text, folded in NAMES:
        assert fold(fold(text)) == folded


def test_search_column_folds_each_value_on_its_own_line():
    assert search_column(["Zoë", "", None, " 1  Cañada Blvd "]) == "zoe\n1 canada blvd"
    # A search's text is folded too, so it never holds the separator: no match across fields.
    assert "\n" not in fold("zoe\n1")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        (
            "0002d62f",
            "0002d62f-0000-0000-0000-000000000000",
            "0002d62f-ffff-ffff-ffff-ffffffffffff",
        ),
        ("0002D6", "0002d600-0000-0000-0000-000000000000", "0002d6ff-ffff-ffff-ffff-ffffffffffff"),
        (
            " 0002d62f-1a ",
            "0002d62f-1a00-0000-0000-000000000000",
            "0002d62f-1aff-ffff-ffff-ffffffffffff",
        ),
        (
            "0002d62f-1a2b-4c3d-8e4f-001122334455",
            "0002d62f-1a2b-4c3d-8e4f-001122334455",
            "0002d62f-1a2b-4c3d-8e4f-001122334455",
        ),
    ],
)
def test_id_range_reads_short_and_whole_meter_ids(text, low, high):
    assert id_range(text) == (UUID(low), UUID(high))


@pytest.mark.parametrize(
    "text", ["", "0002d", "12345", "cafe-ba", "0002d62-f", "0002d62g", "San José", "-" * 8]
)
def test_id_range_refuses_what_is_not_a_meter_id(text):
    assert id_range(text) is None


@pytest.mark.django_db
@pytest.mark.postgres
def test_fold_agrees_with_postgresqls_unaccent():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        for text, folded in NAMES:
            if not text.isascii() and folded.isascii():  # unaccent leaves other scripts' case
                cursor.execute("SELECT lower(unaccent(%s))", [text])
                assert " ".join(cursor.fetchone()[0].split()) == folded, text
