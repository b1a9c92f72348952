"""dorm-tree: adjacency-list trees walked with recursive CTEs.

Import the API as ``dorm.tree`` (``from dorm.tree import descendants``); the module
behind it is ``dorm_tree.api``.
"""
__version__ = "0.1.0"
