"""Migrations of ``dorm.contrib.contenttypes`` (app label ``contenttypes``)."""
