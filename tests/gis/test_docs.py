"""The ``python`` blocks of docs/gis.md run here, in order, on PostGIS and SpatiaLite."""
from ..doc_examples import run_doc_examples


def test_gis_doc_examples_run(gisdb):
    run_doc_examples("gis.md", {"__name__": "docs_gis"}, min_blocks=5)
