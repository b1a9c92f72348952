"""The ``python`` blocks of docs/tree.md run here, in order, on every backend."""
from ..doc_examples import run_doc_examples


def test_tree_doc_examples_run(db):
    run_doc_examples("tree.md")
