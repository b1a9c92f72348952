"""The ``python`` blocks of docs/tenancy.md run here, in order, on every backend."""
from ..doc_examples import run_doc_examples


def test_tenancy_doc_examples_run(db):
    run_doc_examples("tenancy.md")
