"""The ``python`` blocks of docs/tenancy.md run here, in order, on every backend."""
import pathlib
import re

import dorm

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "tenancy.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_tenancy_doc_examples_run(db):
    blocks = BLOCK.findall(PAGE.read_text())
    assert blocks
    namespace: dict = {"dorm": dorm}
    created = []
    try:
        for i, code in enumerate(blocks):
            before = set(dorm.models.registry.by_label.values())
            exec(compile(code, f"tenancy.md[block {i + 1}]", "exec"), namespace)
            created += [m for m in dorm.models.registry.by_label.values() if m not in before]
    finally:
        if created:
            dorm.drop_tables(created)
            for m in created:
                dorm.models.registry.unregister(m)
