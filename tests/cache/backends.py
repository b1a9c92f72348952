"""A cache backend for the failure tests: a real ``LocMemCache`` that can be told to
fail (no mock: every method runs the real code unless ``broken`` is set)."""
from dorm.cache.locmem import LocMemCache


class CacheDown(ConnectionError):
    pass


class FlakyCache(LocMemCache):
    broken = False

    def _check(self):
        if self.broken:
            raise CacheDown("cache server unreachable (test)")

    def get_many(self, keys):
        self._check()
        return super().get_many(keys)

    def set_many(self, mapping, timeout=None, tags=()):
        self._check()
        super().set_many(mapping, timeout, tags)

    def get_versions(self, tags):
        self._check()
        return super().get_versions(tags)

    def bump(self, tags):
        self._check()
        super().bump(tags)
