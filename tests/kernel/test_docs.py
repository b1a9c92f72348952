"""The ``python`` blocks of the user docs run here, in order, on every backend."""
import dorm
import pytest

from ..doc_examples import run_doc_examples

PAGES = ["relations.md", "queries.md", "contrib.md", "budget.md"]


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page, db):
    run_doc_examples(page)


def test_files_doc_examples_run(db, tmp_path, monkeypatch):
    """docs/files.md writes files: run it in an empty directory, restore STORAGES after."""
    pytest.importorskip("PIL", reason="docs/files.md shows ImageField, which needs Pillow")
    monkeypatch.chdir(tmp_path)
    previous = dorm.settings.explicit_value("STORAGES", {})
    try:
        run_doc_examples("files.md", min_blocks=10)
    finally:
        dorm.configure(STORAGES=previous)


def test_contenttypes_doc_examples_run(db):
    """docs/contenttypes.md; ``ContentType`` is imported first so the page does not
    count it among the models it created (those are dropped and unregistered)."""
    import dorm
    from dorm.contrib.contenttypes.models import ContentType

    try:
        run_doc_examples("contenttypes.md")
    finally:
        dorm.drop_tables([ContentType])
