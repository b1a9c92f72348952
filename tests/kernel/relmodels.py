"""Models for the relations suite (app label ``relations``)."""
import dorm


class Publisher(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = "relations"


class Author(dorm.Model):
    name = dorm.CharField(max_length=30)
    publisher = dorm.ForeignKey(Publisher, on_delete=dorm.PROTECT, null=True, related_name="authors")

    class Meta:
        app_label = "relations"


class Tag(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = "relations"


class Book(dorm.Model):
    title = dorm.CharField(max_length=30)
    pages = dorm.IntegerField(default=0)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    editor = dorm.ForeignKey("relations.Author", null=True, on_delete=dorm.SET_NULL, related_name="edited")
    tags = dorm.ManyToManyField(Tag)

    class Meta:
        app_label = "relations"


class Profile(dorm.Model):
    author = dorm.OneToOneField(Author, on_delete=dorm.CASCADE)
    bio = dorm.TextField(default="")

    class Meta:
        app_label = "relations"


class Chapter(dorm.Model):
    title = dorm.CharField(max_length=30)
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE, related_name="children")

    class Meta:
        app_label = "relations"


class Category(dorm.Model):
    name = dorm.CharField(max_length=30)
    tags = dorm.ManyToManyField(Tag, through="Tagged", related_name="categories")

    class Meta:
        app_label = "relations"


class Tagged(dorm.Model):
    category = dorm.ForeignKey(Category, on_delete=dorm.CASCADE)
    tag = dorm.ForeignKey(Tag, on_delete=dorm.CASCADE)
    weight = dorm.IntegerField(default=1)

    class Meta:
        app_label = "relations"


class TaggedItem(dorm.Model):
    category = dorm.ForeignKey(Category, on_delete=dorm.RESTRICT)
    label = dorm.CharField(max_length=10)

    class Meta:
        app_label = "relations"


RELATION_MODELS = [Publisher, Author, Tag, Book, Book.tags.field.remote_field.through, Profile,
                   Chapter, Category, Tagged, TaggedItem]
