"""The ``python`` blocks of docs/gis.md run here, in order, on PostGIS and SpatiaLite."""
import pathlib
import re

import dorm

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "gis.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_gis_doc_examples_run(gisdb):
    blocks = BLOCK.findall(DOCS.read_text())
    assert len(blocks) >= 5
    namespace: dict = {"dorm": dorm, "__name__": "docs_gis"}
    created = []
    try:
        for i, code in enumerate(blocks):
            before = set(dorm.models.registry.by_label.values())
            exec(compile(code, f"gis.md[block {i + 1}]", "exec"), namespace)
            created += [m for m in dorm.models.registry.by_label.values() if m not in before]
    finally:
        if created:
            dorm.drop_tables(created)
            for m in created:
                dorm.models.registry.unregister(m)
