"""The ``python`` blocks of docs/resilience.md run here, in order, on every backend."""
import dorm

from ..doc_examples import run_doc_examples


def test_resilience_doc_examples_run(db):
    with dorm.settings.override():          # the page sets CIRCUIT_BREAKER: restore afterwards
        run_doc_examples("resilience.md", min_blocks=12)
