"""The example app of the dorm demo (listed in ``INSTALLED_APPS`` as ``"shop"``)."""
