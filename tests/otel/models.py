"""Models of the dorm-otel suite."""
import dorm

APP = "otel_tests"


class Book(dorm.Model):
    title = dorm.CharField(max_length=100)
    pages = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP
        db_table = "otel_book"


class Account(dorm.Model):
    """A table with a sensitive column: its statements' parameters are masked."""

    login = dorm.CharField(max_length=50)
    password = dorm.CharField(max_length=100)

    class Meta:
        app_label = APP
        db_table = "otel_account"


ALL = [Book, Account]
