"""The ``python`` blocks of docs/outbox.md run here, in order, on every backend."""
from ..doc_examples import run_doc_examples


def test_outbox_doc_examples_run(db):
    run_doc_examples("outbox.md", min_blocks=10)
