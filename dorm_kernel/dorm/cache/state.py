"""Whether the result cache is on in this process.

``active`` is True while ``settings.CACHES`` is non-empty (kept up to date by
``dorm.cache.registry``). It is the one flag the kernel's write paths read before
doing any cache work, so a project without ``CACHES`` pays one attribute check.
"""
active = False
