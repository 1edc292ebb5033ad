"""CSV import of sites: bad rows, files that are not CSV, idempotent re-import, the command."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from meters.imports import ImportFileError, import_sites
from meters.models import Meter, Site
from tests.meters.factories import MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db

GOOD = (
    "External ID,Name,Address,Postal Code,Utility Account Number,Extra\n"
    "S-1,Acme,12 Main St,94110,ACC-1,x\n"
    "S-2,Bob's Shop,1 Oak Ave,94111,,y\n"
)


def _run(text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return import_sites(io.BytesIO(data), **kwargs)


def test_import_creates_sites_from_header_aliases():
    report = _run(GOOD)
    assert (report.created, report.updated, report.error_count) == (2, 0, 0)
    site = Site.objects.get(external_id="S-1")
    assert (site.name, site.street, site.postal_code) == ("Acme", "12 Main St", "94110")
    assert site.utility_account_number == "ACC-1" and site.imported_at is not None
    assert report.ignored_columns == ["Extra"]


def test_import_same_file_again_changes_nothing():
    _run(GOOD)
    before = list(Site.objects.values_list("external_id", "updated_at", "imported_at"))
    report = _run(GOOD)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert list(Site.objects.values_list("external_id", "updated_at", "imported_at")) == before


def test_import_updates_changed_rows_and_keeps_columns_the_file_lacks():
    _run(GOOD)
    report = _run("external_id,name\nS-1,Acme Corp\n")
    assert (report.created, report.updated) == (0, 1)
    site = Site.objects.get(external_id="S-1")
    assert site.name == "Acme Corp" and site.street == "12 Main St"


def test_import_reports_bad_rows_with_line_and_reason_and_imports_the_rest():
    text = (
        "external_id,name,postal_code\n"
        "S-1,Good,94110\n"
        ",No id,1\n"
        "S-1,Duplicate,2\n"
        "S-3,Too,many,fields\n"
        f"S-4,{'x' * 300},3\n"
        "S-5,Also good,94112\n"
    )
    report = _run(text)
    assert report.created == 2
    assert report.errors == [
        (3, "external_id is empty"),
        (4, "external_id S-1 repeats line 2"),
        (5, "has 4 fields, the header has 3"),
        (6, "name is longer than 256 characters"),
    ]
    assert set(Site.objects.values_list("external_id", flat=True)) == {"S-1", "S-5"}


def test_import_dry_run_writes_nothing():
    report = _run(GOOD, dry_run=True)
    assert report.created == 2 and not Site.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a CSV"),
        (b"external_id,name\nS-1,a\x00b\n", "binary"),
        (b"", "empty"),
        (b"site,name\nS-1,x\n", "no external_id column"),
        (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "spreadsheet .*Save As.*CSV UTF-8"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Excel spreadsheet"),
    ],
)
def test_import_refuses_files_that_are_not_csv_or_lack_the_column(data, message):
    with pytest.raises(ImportFileError, match=message):
        _run(data)
    assert not Site.objects.exists()


def test_import_sites_command_reports_and_maps_by_reference(tmp_path, capsys):
    meter = MeterFactory(partner_reference="S-1")
    path = tmp_path / "sites.csv"
    path.write_text(GOOD + ",missing id,,,,\n")
    call_command("import_sites", str(path))
    out, err = capsys.readouterr()
    assert "2 new" in out and "1 meter mapped by reference" in out and "1 meters" not in out
    assert "line 4: external_id is empty" in err
    assert Meter.objects.get(pk=meter.pk).site.external_id == "S-1"


def test_import_summary_pluralises_its_counts():
    one = _run(b"external_id,name\nS-1,x\n")
    assert one.summary().startswith("1 row: 1 new") and "1 rows" not in one.summary()
    assert _run(b"external_id,name\nS-1,x\nS-2,y\n").summary().startswith("2 rows: ")
    bad = _run(b"external_id,name\nS-1\n")
    assert bad.errors == [(2, "has 1 field, the header has 2")]


def test_import_sites_command_fails_clearly_on_a_bad_file(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="no external_id column"):
        call_command("import_sites", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_sites", str(tmp_path / "missing.csv"))


def _good_rows(count: int, *, prefix: str = "S") -> bytes:
    """`count` valid rows after a header: several batches' worth, so a late failure comes after
    earlier batches would have been written."""
    lines = ["external_id,name,street"]
    lines += [f"{prefix}-{i},Customer {i},{i} Long Street Name Avenue" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


BAD_ENDINGS = [
    pytest.param(b"S-LAST,Nul\x00byte,1 Main St\n", "binary", id="nul"),
    pytest.param(b"S-LAST,Caf\xe9 Latin-1,1 Main St\n", "not UTF-8", id="latin-1"),
    pytest.param(b'S-LAST,"unclosed quote,1 Main St\n', "not a readable CSV", id="open-quote"),
]


@pytest.mark.parametrize(("ending", "message"), BAD_ENDINGS)
def test_import_of_a_file_bad_near_its_end_writes_nothing(ending, message):
    SiteFactory(external_id="S-7", name="Before")
    with pytest.raises(ImportFileError, match=message):
        _run(_good_rows(4500) + ending)
    # Neither the new sites of the first batches nor their changes to stored ones are kept.
    assert list(Site.objects.values_list("external_id", "name")) == [("S-7", "Before")]


@pytest.mark.parametrize(("ending", "message"), BAD_ENDINGS)
def test_import_sites_command_refuses_a_file_bad_near_its_end_whole(tmp_path, ending, message):
    meter = MeterFactory(partner_reference="S-1")
    path = tmp_path / "sites.csv"
    path.write_bytes(_good_rows(4500) + ending)
    with pytest.raises(CommandError, match=message):
        call_command("import_sites", str(path))
    assert not Site.objects.exists()
    assert Meter.objects.get(pk=meter.pk).site is None  # no mapping after a refused file


def test_import_of_a_large_file_with_bad_rows_imports_every_good_row():
    rows = _good_rows(4500).split(b"\n")
    rows[2500] = b"S-LONG," + b"x" * 300 + b",street"  # line 2501, in the second batch
    rows[4400] = b"S-WIDE,too,many,fields"  # line 4401, in the last batch
    report = _run(b"\n".join(rows))
    assert report.errors == [
        (2501, "name is longer than 256 characters"),
        (4401, "has 4 fields, the header has 3"),
    ]
    assert report.created == Site.objects.count() == 4498


@pytest.mark.django_db(transaction=True)
def test_import_rolls_back_for_real_and_the_next_import_still_writes():
    """Outside a test transaction: the refused file's transaction really rolls back (on
    PostgreSQL with the COPY staging table it created), and the same connection imports next."""
    with pytest.raises(ImportFileError):
        _run(_good_rows(4500) + BAD_ENDINGS[0].values[0])
    assert not Site.objects.exists()
    assert _run(_good_rows(4500)).created == Site.objects.count() == 4500


def test_a_windows_1252_file_is_refused_with_how_to_save_it_as_utf8():
    data = "external_id,name\nS-1,Café du Nord\nS-2,Zoë\n".encode("cp1252")
    with pytest.raises(ImportFileError) as refused:
        _run(data)
    message = str(refused.value)
    assert "Windows-1252" in message and "“é”" in message and "CSV UTF-8" in message
    assert "line 2" in message
    assert not Site.objects.exists()
