"""The peer interface the runner drives."""
from __future__ import annotations


class Peer:
    """One contender. Subclasses implement ``setup``/``teardown``, ``clear``,
    ``populate`` and one ``op_<scenario>`` method per scenario they support.

    Each ``op_*`` method does the whole timed unit of work once (the runner times
    it, repeats it and divides by the scenario's unit count). Set-up that must not
    be timed belongs in ``clear``/``populate`` or in the runner.
    """

    name = "?"
    label = "?"
    backends: tuple[str, ...] = ("sqlite",)

    def unavailable(self) -> str | None:
        """Why this peer cannot run here (missing package, ...), or None."""
        return None

    def info(self) -> dict:
        """Versions and settings worth recording in the results."""
        return {}

    def setup(self, env, cfg) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        pass

    def clear(self) -> None:
        raise NotImplementedError

    def populate(self, rows: int) -> None:
        raise NotImplementedError

    def all_pks(self) -> list[int]:
        """Primary keys of the rows now in the table (to pick lookups from)."""
        raise NotImplementedError

    def supports(self, scenario_name: str) -> bool:
        return callable(getattr(self, f"op_{scenario_name}", None))
