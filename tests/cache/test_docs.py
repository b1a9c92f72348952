"""The ``python`` blocks of docs/cache.md run here, in order, on every backend; the
settings they configure (CACHES, CACHE_SIGNING_KEY) are restored afterwards."""
import dorm

from ..doc_examples import run_doc_examples


def test_cache_doc_examples_run(db):
    with dorm.settings.override():
        run_doc_examples("cache.md", min_blocks=8)
