"""Models of the result-cache suite."""
import dorm

APP = "cache_tests"


class Author(dorm.Model):
    name = dorm.CharField(max_length=50)
    rank = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP
        ordering = ["id"]


class Tag(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP


class Book(dorm.Model):
    title = dorm.CharField(max_length=50)
    pages = dorm.IntegerField(default=0)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    tags = dorm.ManyToManyField(Tag, related_name="books")

    class Meta:
        app_label = APP
        ordering = ["id"]


class Review(dorm.Model):
    """Points at a book with SET_NULL: deleting the book updates reviews."""

    stars = dorm.IntegerField(default=3)
    book = dorm.ForeignKey(Book, null=True, on_delete=dorm.SET_NULL, related_name="reviews")

    class Meta:
        app_label = APP
        ordering = ["id"]


ALL = [Author, Tag, Book, Review]
