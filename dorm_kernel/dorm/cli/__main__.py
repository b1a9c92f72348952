"""``python -m dorm.cli``: the same as the ``dorm`` command."""
from dorm.cli import main

if __name__ == "__main__":
    main()
