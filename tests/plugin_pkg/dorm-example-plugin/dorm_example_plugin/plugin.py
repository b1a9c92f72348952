"""The plugin module named by the ``dorm`` entry point.

It only holds hook implementations; the classes live in ``fields.py`` and
``lookups.py`` and are imported inside the hooks, so loading the plugin stays cheap
and never imports dorm's model layer early.
"""
import dorm


@dorm.hookimpl
def dorm_register_field_types(register):
    from dorm_example_plugin.fields import UpperCaseField

    register(UpperCaseField)  # -> dorm.UpperCaseField


@dorm.hookimpl
def dorm_register_lookups(register):
    from dorm_example_plugin.lookups import NotEqual

    register(None, NotEqual)  # name__ne=... on every field
