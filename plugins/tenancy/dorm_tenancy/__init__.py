"""dorm-tenancy: row-level multi-tenancy.

Import the API as ``dorm.contrib.tenants_row`` (``from dorm.contrib.tenants_row import
TenantModel, current_tenant``); the module behind it is ``dorm_tenancy.api``.
"""
__version__ = "0.1.0"
