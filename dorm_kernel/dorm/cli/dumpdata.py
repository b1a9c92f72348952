"""``dorm dumpdata [TARGET...]``: rows as a fixture (JSON list or JSON Lines).

Contract:

* TARGET is an app (label or dotted package: its managed models routed to
  ``--database``), ``app.Model`` or ``Model``; none means every installed app. Models
  come out referenced-first (so ``loaddata`` rarely needs a second pass), rows in
  primary key order: the same data gives the same bytes.
* Streaming: rows are read in pages of ``--chunk-size`` by primary key (keyset
  pagination, ``WHERE pk > last ORDER BY pk``), many-to-many keys per page, and written
  as they come: memory does not grow with the table.
* ``-o FILE`` writes ``FILE`` through a temporary file renamed at the end (a failed dump
  leaves no half file); ``--format`` defaults to ``jsonl`` for ``*.jsonl`` files, else
  ``json``. ``--indent N`` pretty-prints JSON (as ``json.dumps(indent=N)``).
* Progress per model on stderr (``-v 0``: none). Unknown target: exit 1 naming the valid
  ones.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from . import load_settings, settings_option
from ._common import (app_models, auto_m2m_fields, connection_for, database_option,
                      handle_errors, resolve_models)
from ._fixtures import dumps
from ._progress import Progress


def _page_size(connection, chunk_size: int) -> int:
    limit = getattr(connection.features, "max_query_params", 0) or 0
    return max(1, min(chunk_size, limit - 10)) if limit > 10 else chunk_size


def iter_objects(model, alias: str, chunk_size: int = 2000, progress=None):
    """Yield the fixture objects of ``model``'s rows on ``alias``, by primary key."""
    from dorm.db import connections
    from dorm.models.queryset import QuerySet

    opts = model._meta
    pk = opts.pk
    fields = [f for f in opts.concrete_fields if f is not pk]
    attnames = [pk.attname, *(f.attname for f in fields)]
    m2m = [(f, *f.m2m_fields(), f.remote_field.through) for f in auto_m2m_fields(model)]
    size = _page_size(connections[alias], chunk_size)
    base = QuerySet(model=model, using=alias).order_by("pk")
    last = None
    while True:
        qs = base if last is None else base.filter(pk__gt=last)
        page = list(qs.values_list(*attnames)[:size])
        if not page:
            return
        keys = [row[0] for row in page]
        related = {f: _m2m_keys(through, src, tgt, keys, alias) for f, src, tgt, through in m2m}
        for row in page:
            out = {f.name: value for f, value in zip(fields, row[1:])}
            for f in related:
                out[f.name] = related[f].get(row[0], [])
            yield {"model": opts.label, "pk": row[0], "fields": out}
        if progress is not None:
            progress.update(len(page))
        last = keys[-1]
        if len(page) < size:
            return


def _m2m_keys(through, src, tgt, keys, alias) -> dict:
    """``{source key: [target keys, sorted]}`` for the source ``keys``."""
    from dorm.models.queryset import QuerySet

    out: dict = {}
    rows = (QuerySet(model=through, using=alias)
            .filter(**{f"{src.attname}__in": keys})
            .order_by(src.attname, tgt.attname)
            .values_list(src.attname, tgt.attname))
    for source, target in rows:
        out.setdefault(source, []).append(target)
    return out


class FixtureWriter:
    """Writes objects one at a time as a JSON list (formatted like ``json.dumps``) or
    JSON Lines."""

    def __init__(self, stream, fmt: str, indent: int | None):
        self.stream, self.fmt, self.indent = stream, fmt, indent
        self.count = 0

    def write(self, obj) -> None:
        if self.fmt == "jsonl":
            self.stream.write(dumps(obj) + "\n")
        else:
            text = dumps(obj, self.indent)
            if self.indent is None:
                self.stream.write(("[" if self.count == 0 else ", ") + text)
            else:
                pad = " " * self.indent
                body = "\n".join(pad + line for line in text.splitlines())
                self.stream.write(("[\n" if self.count == 0 else ",\n") + body)
        self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            if self.count == 0:
                self.stream.write("[]")
            else:
                self.stream.write("\n]" if self.indent is not None else "]")
            self.stream.write("\n")


@contextlib.contextmanager
def _output(path: Path | None):
    """stdout, or a temporary file next to ``path`` renamed over it on success."""
    if path is None:
        yield sys.stdout
        return
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@click.command("dumpdata")
@click.argument("targets", nargs=-1)
@click.option("--indent", type=click.IntRange(0, 16), default=None, help="Pretty-print JSON.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default=None,
              help="json (a list) or jsonl (one object per line); default from FILE's suffix.")
@click.option("-e", "--exclude", "excludes", multiple=True, metavar="TARGET",
              help="Leave out an app or app.Model (repeatable).")
@click.option("--chunk-size", type=click.IntRange(1, None), default=2000, show_default=True,
              help="Rows read per query.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True,
              help="0: no progress on stderr.")
@database_option
@settings_option
@handle_errors
def dumpdata(targets, indent, output, fmt, excludes, chunk_size, verbosity, database):
    """Write the rows of models as a fixture (for 'dorm loaddata').

    TARGETS: apps, app.Model or Model (default: every installed app). Rows come in
    primary key order; foreign keys are key values, many-to-many fields lists of keys.
    """
    load_settings(required=True)
    connection = connection_for(database)
    models = resolve_models(targets, alias=database) if targets else app_models(alias=database)
    if excludes:
        dropped = set(resolve_models(excludes))
        models = [m for m in models if m not in dropped]
    if fmt is None:
        fmt = "jsonl" if output is not None and output.suffix.lower() == ".jsonl" else "json"
    total = 0
    with _output(output) as stream:
        writer = FixtureWriter(stream, fmt, indent)
        for model in models:
            count = None
            if verbosity >= 1:
                from dorm.models.queryset import QuerySet

                count = QuerySet(model=model, using=database).count()
            progress = Progress(f"dumpdata {model._meta.label}", count, verbosity=verbosity)
            for obj in iter_objects(model, connection.alias, chunk_size, progress):
                writer.write(obj)
            progress.done()
            total += progress.count
        writer.close()
    if output is not None and verbosity >= 1:
        click.echo(f"Wrote {total} object(s) of {len(models)} model(s) to {output}", err=True)
    sys.stdout.flush()


COMMAND = dumpdata
