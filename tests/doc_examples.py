"""Run the ``python`` blocks of a page in docs/ in order, in one namespace, and drop
the tables and models the blocks created (shared by every package's test_docs)."""
import pathlib
import re

import dorm

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def run_doc_examples(page: str, namespace: dict | None = None, min_blocks: int = 1) -> None:
    blocks = BLOCK.findall((DOCS / page).read_text())
    assert len(blocks) >= min_blocks, f"{page} has {len(blocks)} python examples"
    namespace = {"dorm": dorm, **(namespace or {})}
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
