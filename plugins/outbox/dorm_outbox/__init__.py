"""dorm-outbox: the transactional outbox pattern for dorm.

Import the API as ``dorm.contrib.outbox`` (``from dorm.contrib.outbox import
OutboxRelay``); the module behind it is ``dorm_outbox.api``, whose docstring states
the delivery guarantee.
"""
__version__ = "0.1.0"
