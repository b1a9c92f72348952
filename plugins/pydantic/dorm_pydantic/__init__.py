"""dorm-pydantic: pydantic v2 schemas generated from dorm models.

The public API is ``dorm.contrib.pydantic`` (this package's ``api`` module): see
``docs/pydantic.md``. Importing this package imports neither pydantic nor the model
layer; ``dorm_pydantic.api`` does.
"""
