"""dorm-example-plugin: a third-party dorm plugin used by dorm's own test suite."""
