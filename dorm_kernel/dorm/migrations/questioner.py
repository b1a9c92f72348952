"""Questions ``makemigrations`` asks: renames and defaults for new NOT NULL columns.

``Questioner()`` (non-interactive, ``--no-input``) answers "no rename" and refuses a
new NOT NULL column without a default (``QuestionError``: the message says to add a
default, ``null=True`` or ``db_default``). ``InteractiveQuestioner`` asks on the
terminal (click prompts); end of input counts as "no".
"""
from __future__ import annotations

import ast

from .exceptions import QuestionError


class Questioner:
    """Non-interactive answers. ``lenient=True`` (``makemigrations --check``): a missing
    default is not an error (nothing will be written), the field is kept as it is."""

    interactive = False

    def __init__(self, defaults: dict | None = None, lenient: bool = False):
        #: pre-answered defaults: ``{"app.Model.field": value}``
        self.defaults = dict(defaults or {})
        self.lenient = lenient
        self.warnings: list[str] = []

    def ask_rename_model(self, old_state, new_state) -> bool:
        return False

    def ask_rename(self, model_label: str, old_name: str, new_name: str, field) -> bool:
        return False

    def ask_not_null_addition(self, model_label: str, field_name: str):
        key = f"{model_label}.{field_name}"
        if key in self.defaults:
            return self.defaults[key]
        if self.lenient:
            from dorm.fields import NOT_PROVIDED

            self.warnings.append(f"{model_label}.{field_name}: a new NOT NULL field without a "
                                 "default (makemigrations will ask for one)")
            return NOT_PROVIDED
        raise QuestionError(
            f"It is impossible to add the non-nullable field {field_name!r} to {model_label} "
            "without a default: existing rows need a value. Give the field a default "
            "(default=... or db_default=...), make it null=True, or run makemigrations "
            "interactively to provide a one-off default")

    def ask_not_null_alteration(self, model_label: str, field_name: str):
        key = f"{model_label}.{field_name}"
        if key in self.defaults:
            return self.defaults[key]
        self.warnings.append(
            f"{model_label}.{field_name} becomes NOT NULL without a default: migrating fails "
            "if existing rows hold NULL; update them first (a RunPython/RunSQL step)")
        return None


class InteractiveQuestioner(Questioner):
    interactive = True

    def __init__(self, defaults: dict | None = None, echo=None, prompt=None, confirm=None):
        super().__init__(defaults)
        import click

        self._echo = echo or click.echo
        self._prompt = prompt or click.prompt
        self._confirm = confirm or click.confirm

    def _yes(self, question: str) -> bool:
        import click

        try:
            return bool(self._confirm(question, default=False))
        except (click.Abort, EOFError):
            return False

    def ask_rename_model(self, old_state, new_state) -> bool:
        return self._yes(f"Was the model {old_state.label} renamed to {new_state.name}?")

    def ask_rename(self, model_label: str, old_name: str, new_name: str, field) -> bool:
        return self._yes(f"Was {model_label}.{old_name} renamed to {model_label}.{new_name} "
                         f"(a {type(field).__name__})?")

    def _ask_default(self, intro: str, allow_none: bool):
        import click

        self._echo(intro)
        for _ in range(3):
            try:
                text = self._prompt("Default value as a Python literal (empty to "
                                    + ("skip" if allow_none else "quit") + ")",
                                    default="", show_default=False)
            except (click.Abort, EOFError):
                text = ""
            text = (text or "").strip()
            if not text:
                return _SKIP
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                self._echo(f"Not a Python literal: {text!r} (try 0, '', 'text', None, True)")
        return _SKIP

    def ask_not_null_addition(self, model_label: str, field_name: str):
        key = f"{model_label}.{field_name}"
        if key in self.defaults:
            return self.defaults[key]
        value = self._ask_default(
            f"The new field {model_label}.{field_name} is NOT NULL and has no default: existing "
            "rows need a value. Provide a one-off default now (kept out of the model), or quit "
            "and add default=/null=True to the field.", allow_none=False)
        if value is _SKIP:
            return super().ask_not_null_addition(model_label, field_name)
        return value

    def ask_not_null_alteration(self, model_label: str, field_name: str):
        key = f"{model_label}.{field_name}"
        if key in self.defaults:
            return self.defaults[key]
        value = self._ask_default(
            f"{model_label}.{field_name} becomes NOT NULL. Give a one-off value for existing "
            "NULL rows, or skip (the migration fails if NULLs remain).", allow_none=True)
        if value is _SKIP:
            return super().ask_not_null_alteration(model_label, field_name)
        return value


class _Skip:
    pass


_SKIP = _Skip()
