"""A file name of any length is safe to upload: the stored name is shortened, the job keeps what fits."""

import pytest
from django.core.files.storage import default_storage

from ingestion.jobs import stored_upload_name
from ingestion.models import ImportJob
from partnerships.models import DailyMetric
from tests.ingestion.test_ingest import HEADER, _media_and_eager_tasks, metric_row, upload, write_file
from tests.partnerships.test_import_export import CSV_FORMAT, preview

__all__ = ["_media_and_eager_tasks"]
LONG_NAME = "m" * 296 + ".csv"


def test_a_300_character_file_name_uploads_under_a_shortened_name(client, manager, db, tmp_path,
                                                                   django_capture_on_commit_callbacks):
    client.force_login(manager)
    with open(write_file(tmp_path, [metric_row("nobody")]), "rb") as handle:
        content = handle.read()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, content, name=LONG_NAME)

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert len(job.source_name) == 255  # Django's upload handler shortens it, keeping the extension
    assert job.source_name.endswith(".csv")
    stored = job.file_path.rsplit("/", 1)[1]
    assert len(stored.encode()) <= 255
    assert stored.endswith(".csv")
    assert default_storage.exists(job.file_path)


def test_a_300_character_file_name_in_the_spreadsheet_import_is_no_error(client, manager, db):
    client.force_login(manager)
    content = (",".join(HEADER) + "\n" + ",".join(map(str, metric_row("nobody"))) + "\n").encode()
    response = preview(client, DailyMetric, content, name=LONG_NAME, fmt=CSV_FORMAT)
    assert response.status_code == 200
    assert not DailyMetric.objects.exists()


@pytest.mark.parametrize(("name", "expected_end"), [
    ("a" * 300 + ".csv.gz", ".csv.gz"),
    ("é" * 200 + ".csv", ".csv"),
    ("..", "upload"),
    ("../../etc/passwd", "passwd"),
])
def test_stored_names_fit_a_file_system_name(name, expected_end):
    stored = stored_upload_name(name)
    assert len(stored.encode()) <= 120
    assert stored.endswith(expected_end)
    assert "/" not in stored
