"""The ``python`` blocks of docs/pydantic.md run here, in order, on every backend."""
from ..doc_examples import run_doc_examples


def test_pydantic_doc_examples_run(db):
    run_doc_examples("pydantic.md", min_blocks=10)
