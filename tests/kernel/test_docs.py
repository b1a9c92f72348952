"""The ``python`` blocks of the user docs run here, in order, on every backend."""
import pathlib
import re

import pytest

import dorm

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = ["relations.md", "queries.md"]


def _blocks(page):
    return BLOCK.findall((DOCS / page).read_text())


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page, db):
    blocks = _blocks(page)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {"dorm": dorm}
    created = []
    try:
        for i, code in enumerate(blocks):
            before = set(dorm.models.registry.by_label.values())
            exec(compile(code, f"{page}[block {i + 1}]", "exec"), namespace)
            created += [m for m in dorm.models.registry.by_label.values() if m not in before]
    finally:
        if created:
            dorm.drop_tables(created)
            for m in created:
                dorm.models.registry.unregister(m)
