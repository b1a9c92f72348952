"""The ``python`` blocks of the user docs run here, in order, on every backend."""
import pytest

from ..doc_examples import run_doc_examples

PAGES = ["relations.md", "queries.md"]


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page, db):
    run_doc_examples(page)
