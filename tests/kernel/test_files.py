"""Files and storage (spec core.md §4.1): FileSystemStorage safety and atomic writes,
STORAGES / default_storage, FileField / ImageField / FilePathField through models on
every backend, transactions, async storage methods and migrations."""
from __future__ import annotations

import asyncio
import datetime
import io
import os
import pickle
import sys

import dorm
import pytest
from dorm import ContentFile, File, FileSystemStorage, Storage, default_storage, transaction
from dorm.exceptions import ImproperlyConfigured, SuspiciousFileOperation, ValidationError
from dorm.files import get_storage, reset_storages
from dorm.files.filesystem import TEMP_PREFIX
from dorm.migrations import Migration, MigrationWriter, SerializationError
from dorm.migrations.autodetector import field_key
from dorm.migrations.operations import AddField


# ---- models ----------------------------------------------------------------------------------
def attachment_path(instance, filename):
    """upload_to callable (module level, so migrations can import it)."""
    return f"by-title/{instance.title}/{filename}"


ASSET_ROOT: list[str] = [""]


def asset_root():
    return ASSET_ROOT[0]


class Document(dorm.Model):
    title = dorm.CharField(max_length=50)
    doc = dorm.FileField(upload_to="docs/%Y", null=True, blank=True)
    attachment = dorm.FileField(upload_to=attachment_path, blank=True)

    class Meta:
        app_label = "files_tests"
        ordering = ["id"]


class Photo(dorm.Model):
    image = dorm.ImageField(upload_to="photos", null=True)

    class Meta:
        app_label = "files_tests"


class Asset(dorm.Model):
    source = dorm.FilePathField(path=asset_root, match=r"\.txt$", null=True, blank=True)
    folder = dorm.FilePathField(path=asset_root, recursive=True, allow_files=False,
                                allow_folders=True, null=True, blank=True)

    class Meta:
        app_label = "files_tests"


MODELS = [Document, Photo, Asset]


@pytest.fixture
def media(tmp_path):
    """``STORAGES['default']`` = a FileSystemStorage in a fresh directory (restored after)."""
    root = tmp_path / "media"
    previous = dorm.settings.explicit_value("STORAGES", {})
    dorm.configure(STORAGES={"default": {"BACKEND": "dorm.FileSystemStorage",
                                         "OPTIONS": {"location": str(root), "base_url": "/m/"}}})
    yield root
    dorm.configure(STORAGES=previous)


def files_under(root) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, f), root) for f in files]
    return sorted(out)


class Exploding(io.RawIOBase):
    """A content stream that fails after the first chunk (disk full, dropped upload)."""

    def __init__(self):
        self.calls = 0

    def readable(self):
        return True

    def read(self, n=-1):
        self.calls += 1
        if self.calls > 1:
            raise OSError("connection reset while reading the upload")
        return b"x" * (n if n and n > 0 else 10)


def png_bytes(size=(3, 2)) -> bytes:
    image_mod = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    image_mod.new("RGB", size, "red").save(buf, "PNG")
    return buf.getvalue()


# ---- File / ContentFile ----------------------------------------------------------------------
def test_file_and_content_file_basics(tmp_path):
    cf = ContentFile(b"abcdef", name="a.bin")
    assert cf and cf.size == 6 and len(cf) == 6
    assert list(cf.chunks(4)) == [b"abcd", b"ef"]
    assert list(cf.chunks(4)) == [b"abcd", b"ef"]  # rewinds
    assert ContentFile("héllo").size == len("héllo".encode())
    assert bool(ContentFile(b"")) is True
    with pytest.raises(TypeError, match="bytes or str"):
        ContentFile(123)
    path = tmp_path / "disk.txt"
    path.write_bytes(b"on disk")
    with File(open(path, "rb")) as f:
        assert f.name == str(path) and f.size == 7 and f.read() == b"on disk"
    assert f.closed
    assert not File(io.BytesIO(b"x"))  # no name: false


# ---- FileSystemStorage -----------------------------------------------------------------------
def test_storage_round_trip_and_listdir(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "s", base_url="/files")
    assert storage.base_url == "/files/"
    name = storage.save("a/b/hello world.txt", ContentFile(b"hi"))
    assert name == "a/b/hello world.txt"  # save() does not rename (only generate_filename cleans)
    assert storage.exists(name) and storage.size(name) == 2
    with storage.open(name) as f:
        assert f.read() == b"hi"
    assert storage.url(name) == "/files/a/b/hello%20world.txt"
    assert storage.path(name) == str(tmp_path / "s" / "a" / "b" / "hello world.txt")
    assert storage.listdir("") == (["a"], [])
    assert storage.listdir("a/b") == ([], ["hello world.txt"])
    assert storage.save("raw.txt", b"bytes") == "raw.txt"
    assert storage.save("text.txt", "tëxt") == "text.txt"
    assert storage.open("text.txt").read() == "tëxt".encode()
    storage.delete(name)
    storage.delete(name)  # missing is fine
    assert not storage.exists(name)
    assert isinstance(storage.get_modified_time("raw.txt"), datetime.datetime)
    with pytest.raises(TypeError, match="cannot store a int"):
        storage.save("x.txt", 5)
    with pytest.raises(ValueError, match="must not be empty"):
        storage.delete("")


def test_name_collisions_get_distinct_names(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    names = [storage.save("dir/report.tar.gz", ContentFile(str(i))) for i in range(3)]
    assert len(set(names)) == 3
    assert names[0] == "dir/report.tar.gz"
    for i, name in enumerate(names):
        assert name.startswith("dir/report") and name.endswith(".tar.gz")
        assert storage.open(name).read() == str(i).encode()  # nothing overwritten


def test_available_name_respects_max_length(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    storage.save("d/abcdefghij.txt", ContentFile(b"1"))
    name = storage.save("d/abcdefghij.txt", ContentFile(b"2"), max_length=18)
    assert len(name) <= 18 and name.startswith("d/") and name.endswith(".txt")
    with pytest.raises(SuspiciousFileOperation, match="available name"):
        storage.save("d/abcdefghij.txt", ContentFile(b"3"), max_length=8)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt",
                                  "ok/../../../evil.txt", "..", "", "a/\x00b"])
def test_path_traversal_refused(tmp_path, name):
    root = tmp_path / "root"
    storage = FileSystemStorage(location=root)
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    if name:
        with pytest.raises(SuspiciousFileOperation):
            storage.open(name)
    assert files_under(tmp_path) == []


def test_path_methods_refuse_escapes(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "root")
    (tmp_path / "secret.txt").write_text("secret")
    for call in (lambda: storage.path("../secret.txt"), lambda: storage.exists("../secret.txt"),
                 lambda: storage.size("../secret.txt"), lambda: storage.delete("../secret.txt"),
                 lambda: storage.listdir(".."), lambda: storage.url("../secret.txt"),
                 lambda: storage.open("/etc/passwd")):
        with pytest.raises(SuspiciousFileOperation):
            call()
    assert (tmp_path / "secret.txt").exists()


def test_symlink_escape_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, root / "link")             # directory link pointing outside
    os.symlink(outside / "secret.txt", root / "alias.txt")  # file link pointing outside
    storage = FileSystemStorage(location=root)
    with pytest.raises(SuspiciousFileOperation, match="symbolic link"):
        storage.save("link/new.txt", ContentFile(b"x"))
    for call in (lambda: storage.open("link/secret.txt"), lambda: storage.open("alias.txt"),
                 lambda: storage.delete("alias.txt"), lambda: storage.delete("link/secret.txt"),
                 lambda: storage.listdir("link"), lambda: storage.size("alias.txt")):
        with pytest.raises(SuspiciousFileOperation):
            call()
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    # a link that stays inside the root is fine
    (root / "real").mkdir()
    os.symlink(root / "real", root / "inner")
    assert storage.save("inner/ok.txt", ContentFile(b"ok")) == "inner/ok.txt"
    assert (root / "real" / "ok.txt").read_bytes() == b"ok"


def test_failed_save_leaves_nothing(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "root")
    content = File(Exploding(), name="boom.txt")
    with pytest.raises(OSError, match="connection reset"):
        storage.save("new/dir/boom.txt", content)
    assert content.file.calls == 2
    assert files_under(tmp_path) == []
    assert not (tmp_path / "root" / "new").exists()  # directories it created are removed
    # an existing directory is kept, and no temp file is left in it
    storage.save("keep/a.txt", ContentFile(b"a"))
    with pytest.raises(OSError):
        storage.save("keep/boom.txt", File(Exploding(), name="boom.txt"))
    assert files_under(tmp_path / "root") == ["keep/a.txt"]


def test_save_never_overwrites_a_file_created_concurrently(tmp_path):
    class Racy(FileSystemStorage):
        """exists() says no once, as if another process created the file meanwhile."""
        lied = False

        def exists(self, name):
            if not self.lied:
                self.lied = True
                return False
            return super().exists(name)

    storage = Racy(location=tmp_path)
    (tmp_path / "same.txt").write_bytes(b"first")
    name = storage.save("same.txt", ContentFile(b"second"))
    assert name != "same.txt"
    assert (tmp_path / "same.txt").read_bytes() == b"first"
    assert storage.open(name).read() == b"second"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TEMP_PREFIX)]


def test_permissions_and_option_validation(tmp_path):
    storage = FileSystemStorage(location=tmp_path, file_permissions_mode=0o640,
                                directory_permissions_mode=0o750)
    name = storage.save("sub/p.txt", ContentFile(b"x"))
    assert os.stat(storage.path(name)).st_mode & 0o777 == 0o640
    assert os.stat(tmp_path / "sub").st_mode & 0o777 == 0o750
    with pytest.raises(ImproperlyConfigured, match="file_permissions_mode"):
        FileSystemStorage(location=tmp_path, file_permissions_mode="644")
    with pytest.raises(ImproperlyConfigured, match="location"):
        FileSystemStorage(location=3)
    with pytest.raises(ImproperlyConfigured, match="base_url"):
        FileSystemStorage(location=tmp_path, base_url=3)


def test_storage_base_requires_subclass_methods():
    storage = Storage()
    with pytest.raises(NotImplementedError, match=r"Storage must implement exists\(name\)"):
        storage.save("a.txt", ContentFile(b"x"))
    with pytest.raises(NotImplementedError, match="local disk"):
        storage.path("a.txt")
    assert storage.get_valid_name(" my file?.txt") == "my_file.txt"
    with pytest.raises(SuspiciousFileOperation):
        storage.get_valid_name("???")
    assert storage.generate_filename("a/b c.txt") == "a/b_c.txt"
    with pytest.raises(SuspiciousFileOperation):
        storage.generate_filename("../x.txt")


async def test_async_storage_methods(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    name = await storage.asave("a/x.txt", ContentFile(b"async"))
    assert await storage.aexists(name)
    assert await storage.asize(name) == 5
    f = await storage.aopen(name)
    assert f.read() == b"async"
    f.close()
    assert await storage.alistdir("a") == ([], ["x.txt"])
    assert await storage.aurl(name) == "/media/a/x.txt"
    names = await asyncio.gather(*[storage.asave("a/x.txt", ContentFile(b"n")) for _ in range(5)])
    assert len(set(names)) == 5 and name not in names
    await storage.adelete(name)
    assert not await storage.aexists(name)
    with pytest.raises(SuspiciousFileOperation):
        await storage.asave("../x.txt", ContentFile(b"n"))


# ---- STORAGES, get_storage, default_storage ------------------------------------------------------
def test_settings_change_resets_storages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with dorm.settings.override(STORAGES={}):
        storage = get_storage()
        assert storage is get_storage("default")
        assert storage.location == str(tmp_path / "media")   # the documented default
        assert isinstance(default_storage, FileSystemStorage)
        dorm.configure(STORAGES={
            "default": {"BACKEND": "dorm.files.FileSystemStorage",
                        "OPTIONS": {"location": str(tmp_path / "one")}},
            "avatars": {"BACKEND": FileSystemStorage, "OPTIONS": {"location": str(tmp_path / "av")}},
        })
        assert get_storage() is not storage
        assert default_storage.location == str(tmp_path / "one")
        assert get_storage("avatars").location == str(tmp_path / "av")
        first = get_storage("avatars")
        reset_storages()
        assert get_storage("avatars") is not first
        dorm.configure(STORAGES={"default": {"BACKEND": "dorm.FileSystemStorage",
                                             "OPTIONS": {"location": str(tmp_path / "two")}}})
        assert default_storage.location == str(tmp_path / "two")
        assert default_storage.save("d.txt", ContentFile(b"d")) == "d.txt"
        assert (tmp_path / "two" / "d.txt").exists()
        with pytest.raises(ImproperlyConfigured, match=r"Unknown storage alias 'avatars'.*default"):
            get_storage("avatars")


@pytest.mark.parametrize(("storages", "message"), [
    ([], "STORAGES must be a dict"),
    ({"x": "dorm.FileSystemStorage"}, r"STORAGES\['x'\] must be a dict"),
    ({"x": {"OPTIONS": {}}}, r"STORAGES\['x'\] needs a 'BACKEND'"),
    ({"x": {"BACKEND": "dorm.FileSystemStorage", "LOCATION": "/"}}, "unknown key.*'LOCATION'"),
    ({"x": {"BACKEND": "no.such.module.Storage"}}, "cannot be imported"),
    ({"x": {"BACKEND": "dorm.NoSuchStorage"}}, "has no 'NoSuchStorage'"),
    ({"x": {"BACKEND": "dorm.CharField"}}, "not a dorm.Storage subclass"),
    ({"x": {"BACKEND": "not a path"}}, "dotted path"),
    ({"x": {"BACKEND": "dorm.FileSystemStorage", "OPTIONS": {"root": "/tmp"}}},
     r"OPTIONS'\] do not fit FileSystemStorage\(location, base_url"),
    ({"x": {"BACKEND": "dorm.FileSystemStorage", "OPTIONS": []}}, "OPTIONS'] must be a dict"),
])
def test_bad_storages_settings(storages, message):
    with dorm.settings.override(STORAGES=storages):
        with pytest.raises(ImproperlyConfigured, match=message):
            get_storage("x")


# ---- FileField through models (every backend) ------------------------------------------------------
def test_file_field_round_trip(db, media):
    doc = Document.objects.create(title="a", doc=ContentFile(b"hello", name="my report.txt"))
    year = datetime.datetime.now().year
    assert doc.doc.name == f"docs/{year}/my_report.txt"
    assert (media / "docs" / str(year) / "my_report.txt").read_bytes() == b"hello"
    loaded = Document.objects.get(pk=doc.pk)
    assert isinstance(loaded.doc, dorm.FieldFile)
    assert loaded.doc == f"docs/{year}/my_report.txt" and loaded.doc == doc.doc
    assert loaded.doc.read() == b"hello"
    assert loaded.doc.size == 5
    assert loaded.doc.url == f"/m/docs/{year}/my_report.txt"
    assert loaded.doc.path == str(media / "docs" / str(year) / "my_report.txt")
    loaded.doc.close()
    with loaded.doc.open() as f:
        assert f.read() == b"hello"
    with loaded.doc.open("rb") as f:      # reopens after close
        assert f.read(2) == b"he"
    # the column holds the name; filters take names or FieldFiles
    assert list(Document.objects.values_list("doc", flat=True)) == [doc.doc.name]
    assert Document.objects.filter(doc=doc.doc).count() == 1
    assert Document.objects.filter(doc=doc.doc.name).count() == 1
    loaded.doc.delete()                      # delete(save=True)
    assert not (media / "docs" / str(year) / "my_report.txt").exists()
    assert not Document.objects.get(pk=doc.pk).doc
    assert list(Document.objects.values_list("doc", flat=True)) == [None]


def test_empty_file_field_values(db, media):
    doc = Document.objects.create(title="empty")
    assert not doc.doc and not doc.attachment
    assert doc.doc == "" and doc.doc == None  # noqa: E711 - FieldFile compares by name
    with pytest.raises(ValueError, match=r"Document.doc \(FileField\) has no file"):
        doc.doc.url
    with pytest.raises(ValueError, match="has no file"):
        doc.doc.read()
    # null=True stores NULL, NOT NULL stores ""
    assert list(Document.objects.values_list("doc", "attachment")) == [(None, "")]
    doc.doc = ""
    doc.save()
    assert list(Document.objects.values_list("doc", flat=True)) == [None]
    doc.doc.delete()  # nothing to delete: no error


def test_upload_to_callable_and_field_file_save(db, media):
    doc = Document(title="spec")
    doc.attachment = ContentFile(b"pdf", name="/tmp/somewhere/v1.pdf")  # only the base name counts
    doc.save()
    assert doc.attachment.name == "by-title/spec/v1.pdf"
    doc.doc.save("notes.txt", ContentFile(b"notes"))           # save=True saves the row
    assert Document.objects.get(pk=doc.pk).doc.name.endswith("/notes.txt")
    doc.doc.save("more.txt", ContentFile(b"more"), save=False)
    assert Document.objects.get(pk=doc.pk).doc.name.endswith("/notes.txt")
    doc.save()
    assert Document.objects.get(pk=doc.pk).doc.name.endswith("/more.txt")
    assert (media / doc.doc.name).exists() and (media / "by-title/spec/v1.pdf").exists()


def test_assigning_a_file_object_and_a_name(db, media, tmp_path):
    src = tmp_path / "upload.bin"
    src.write_bytes(b"\x00\x01")
    with open(src, "rb") as fh:
        doc = Document.objects.create(title="t", doc=File(fh))
    assert doc.doc.name.endswith("/upload.bin") and doc.doc.read() == b"\x00\x01"
    other = Document.objects.create(title="u", doc=doc.doc.name)   # a stored name
    assert other.doc.name == doc.doc.name and other.doc.read() == b"\x00\x01"
    third = Document.objects.create(title="v", doc=other.doc)      # a FieldFile: its name
    assert third.doc.name == doc.doc.name and third.doc.instance is third
    assert len(files_under(media)) == 1


def test_name_collisions_through_models(db, media):
    docs = [Document.objects.create(title=f"t{i}", doc=ContentFile(f"c{i}".encode(), name="same.txt"))
            for i in range(3)]
    names = [d.doc.name for d in docs]
    assert len(set(names)) == 3
    for i, d in enumerate(Document.objects.all()):
        assert d.doc.read() == f"c{i}".encode()


def test_bulk_create_uploads_pending_files(db, media):
    Document.objects.bulk_create([Document(title=f"b{i}", doc=ContentFile(b"b", name="bulk.txt"))
                                  for i in range(3)])
    assert len(set(Document.objects.values_list("doc", flat=True))) == 3
    assert len(files_under(media)) == 3


def test_update_and_bulk_update_refuse_pending_uploads(db, media):
    doc = Document.objects.create(title="u", doc=ContentFile(b"u", name="u.txt"))
    with pytest.raises(ValueError, match=r"Document.doc \(FileField\).*has not been uploaded"):
        Document.objects.filter(pk=doc.pk).update(doc=ContentFile(b"x", name="x.txt"))
    doc.doc = ContentFile(b"y", name="y.txt")
    with pytest.raises(ValueError, match="has not been uploaded"):
        Document.objects.bulk_update([doc], ["doc"])
    name = default_storage.save("manual/z.txt", ContentFile(b"z"))
    assert Document.objects.filter(pk=doc.pk).update(doc=name) == 1
    assert Document.objects.get(pk=doc.pk).doc.read() == b"z"
    loaded = Document.objects.get(pk=doc.pk)
    loaded.title = "renamed"
    Document.objects.bulk_update([loaded], ["doc", "title"])   # committed FieldFiles are fine
    assert Document.objects.get(pk=doc.pk).doc == name
    assert files_under(media) == sorted([f"docs/{datetime.datetime.now().year}/u.txt", "manual/z.txt"])


def test_assignment_is_validated(db, media):
    with pytest.raises(ValidationError, match=r"Document.doc \(FileField\) accepts"):
        Document(title="x", doc=123)
    doc = Document(title="x")
    with pytest.raises(ValidationError, match="not PosixPath"):
        doc.doc = media / "x.txt"
    with pytest.raises(ValidationError, match="has no name"):
        doc.doc = ContentFile(b"no name")
    doc.doc = "a" * 300
    with pytest.raises(ValidationError, match="at most 255"):
        doc.full_clean()


def test_unsafe_upload_names_refused(db, media):
    doc = Document.objects.create(title="../../escape")
    with pytest.raises(SuspiciousFileOperation, match="traversal"):
        doc.attachment.save("x.txt", ContentFile(b"x"))       # upload_to callable returns ../..
    with pytest.raises(SuspiciousFileOperation, match="traversal"):
        doc.doc.save("../../x.txt", ContentFile(b"x"))
    assert files_under(media.parent) == []
    with pytest.raises(ImproperlyConfigured, match=r"Bad.f \(FileField\): upload_to='/abs'"):
        class Bad(dorm.Model):
            f = dorm.FileField(upload_to="/abs")

            class Meta:
                app_label = "files_tests_bad"
    with pytest.raises(ImproperlyConfigured, match=r"Bad2.f \(FileField\): upload_to must be"):
        class Bad2(dorm.Model):
            f = dorm.FileField(upload_to=3)

            class Meta:
                app_label = "files_tests_bad"
    with pytest.raises(ImproperlyConfigured, match=r"Bad3.f \(FileField\): storage must be"):
        class Bad3(dorm.Model):
            f = dorm.FileField(storage=3)

            class Meta:
                app_label = "files_tests_bad"


def test_failed_upload_saves_no_row_and_no_file(db, media):
    doc = Document(title="boom", doc=File(Exploding(), name="boom.txt"))
    with pytest.raises(OSError, match="connection reset"):
        doc.save()
    assert Document.objects.count() == 0
    assert files_under(media) == []


def test_rollback_deletes_uploads_and_commit_keeps_them(db, media):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            doc = Document.objects.create(title="r", doc=ContentFile(b"r", name="rolled.txt"))
            assert (media / doc.doc.name).exists()
            raise RuntimeError("abort")
    assert not (media / doc.doc.name).exists()
    with transaction.atomic():
        kept = Document.objects.create(title="k", doc=ContentFile(b"k", name="kept.txt"))
    assert (media / kept.doc.name).exists()
    assert Document.objects.count() == 1


def test_rollback_follows_the_alias_the_row_is_saved_on(media, tmp_path):
    """save(using="other") inside atomic("other"): the upload belongs to "other"."""
    with dorm.settings.override(DATABASES={
            "default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "default.db")},
            "other": {"ENGINE": "sqlite", "NAME": str(tmp_path / "other.db")}}):
        dorm.create_tables([Document], using="other")
        with pytest.raises(RuntimeError):
            with transaction.atomic(using="other"):
                doc = Document(title="o", doc=ContentFile(b"o", name="other.txt"))
                doc.save(using="other")
                raise RuntimeError("abort")
        assert not default_storage.exists(doc.doc.name)
        with transaction.atomic(using="default"):      # a block on another alias: no effect
            kept = Document(title="k", doc=ContentFile(b"k", name="kept.txt"))
            kept.save(using="other")
        assert default_storage.exists(kept.doc.name)
        with pytest.raises(RuntimeError):
            with transaction.atomic(using="default"):
                kept.doc.save("again.txt", ContentFile(b"a"), save=False)  # row lives on "other"
                raise RuntimeError("abort")
        assert default_storage.exists(kept.doc.name)
        dorm.connections.close_all()


def test_delete_and_replace_keep_files(db, media):
    doc = Document.objects.create(title="d", doc=ContentFile(b"1", name="one.txt"))
    first = doc.doc.name
    doc.doc = ContentFile(b"2", name="two.txt")
    doc.save()
    assert (media / first).exists() and (media / doc.doc.name).exists()  # replacing keeps old
    second = doc.doc.name
    doc.delete()
    assert (media / first).exists() and (media / second).exists()   # Django semantics


def test_deferred_copied_and_pickled_instances(db, media):
    doc = Document.objects.create(title="p", doc=ContentFile(b"pickled", name="p.txt"))
    lazy = Document.objects.only("title").get(pk=doc.pk)
    assert lazy.doc.read() == b"pickled"
    assert lazy.doc.instance is lazy
    clone = pickle.loads(pickle.dumps(lazy))
    assert clone.doc == doc.doc.name and clone.doc.instance is clone
    assert clone.doc.read() == b"pickled"
    pending = Document(title="q", doc=ContentFile(b"q", name="q.txt"))
    pending.doc  # noqa: B018 - wraps the pending upload in a FieldFile
    with pytest.raises(TypeError, match="pending upload cannot be pickled"):
        pickle.dumps(pending)
    assert hash(doc.doc) == hash(doc.doc.name)


def test_field_storage_alias_and_column_type(db, media, tmp_path):
    field = Document._meta.get_field("doc")
    assert "255" in field.db_type(db) and "char" in field.db_type(db).lower()
    assert "100" in Asset._meta.get_field("source").db_type(db)
    assert field.storage is default_storage
    aliased = dorm.FileField(storage="archive")
    dorm.configure(STORAGES={**dorm.settings.STORAGES, "archive": {
        "BACKEND": "dorm.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "arch")}}})
    assert aliased.storage.location == str(tmp_path / "arch")
    assert dorm.FileField(storage=lambda: aliased.storage).storage is aliased.storage
    with pytest.raises(ImproperlyConfigured, match="not a dorm.Storage"):
        dorm.FileField(storage=lambda: "nope").storage


async def test_async_model_save_with_file(db, media):
    doc = await Document.objects.acreate(title="a", doc=ContentFile(b"async", name="a.txt"))
    loaded = await Document.objects.aget(pk=doc.pk)
    assert loaded.doc.name == doc.doc.name
    assert await loaded.doc.storage.asize(loaded.doc.name) == 5
    with pytest.raises(RuntimeError):
        async with transaction.aatomic():
            rolled = await Document.objects.acreate(title="b", doc=ContentFile(b"b", name="b.txt"))
            raise RuntimeError("abort")
    assert not await default_storage.aexists(rolled.doc.name)


# ---- ImageField -------------------------------------------------------------------------------
def test_image_field_verifies_with_pillow(db, media):
    data = png_bytes((3, 2))
    photo = Photo.objects.create(image=ContentFile(data, name="red.png"))
    assert photo.image.name == "photos/red.png"
    loaded = Photo.objects.get(pk=photo.pk)
    assert isinstance(loaded.image, dorm.ImageFieldFile)
    assert (loaded.image.width, loaded.image.height) == (3, 2)
    with pytest.raises(ValidationError, match=r"Photo.image \(ImageField\): upload a valid image"):
        Photo(image=ContentFile(b"not an image", name="fake.png"))
    with pytest.raises(ValidationError, match="valid image"):
        Photo(image=ContentFile(data[:20], name="truncated.png"))
    assert Photo(image="photos/stored-name.png").image.name == "photos/stored-name.png"  # names unchecked
    assert files_under(media) == ["photos/red.png"]


def test_image_field_without_pillow(db, media, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"Photo.image \(ImageField\) needs Pillow.*pip install Pillow"):
        Photo(image=ContentFile(b"\x89PNG", name="x.png"))


# ---- FilePathField ----------------------------------------------------------------------------
def test_file_path_field_validation(db, tmp_path):
    root = tmp_path / "assets"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b.csv").write_text("b")
    (root / "sub" / "c.txt").write_text("c")
    (tmp_path / "outside.txt").write_text("o")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    ASSET_ROOT[0] = str(root)
    field = Asset._meta.get_field("source")
    assert field.choices_from_path() == [str(root / "a.txt")]
    assert Asset._meta.get_field("folder").choices_from_path() == [str(root / "sub")]
    ok = Asset.objects.create(source=str(root / "a.txt"), folder="sub")
    ok.full_clean()
    assert Asset.objects.get(pk=ok.pk).source == str(root / "a.txt")
    Asset(source="a.txt").full_clean()      # relative to path
    for bad, message in ((str(root / "b.csv"), "whose name matches"), ("sub/c.txt", "directly inside"),
                         ("missing.txt", "not an existing file whose"), ("../outside.txt", "inside"),
                         ("link.txt", "inside")):
        with pytest.raises(ValidationError, match=message):
            Asset(source=bad).full_clean()
    with pytest.raises(ValidationError, match="not an existing folder in"):
        Asset(folder="a.txt").full_clean()
    with pytest.raises(ImproperlyConfigured, match=r"Bad4.p \(FilePathField\): allow_files or"):
        class Bad4(dorm.Model):
            p = dorm.FilePathField(path=str(root), allow_files=False)

            class Meta:
                app_label = "files_tests_bad"


# ---- migrations -------------------------------------------------------------------------------
def _round_trip(model, name, field):
    text = MigrationWriter(Migration("0001_test", "files_tests", [AddField(model, name, field)],
                                     [])).as_string()
    namespace: dict = {"__name__": "migration_under_test"}
    exec(compile(text, "<migration>", "exec"), namespace)  # noqa: S102
    loaded = namespace["operations"][0].field
    assert type(loaded) is type(field)
    assert field_key(loaded) == field_key(field), text
    return text, loaded


def test_migration_writer_round_trip(tmp_path):
    for model in MODELS:
        for field in model._meta.local_fields:
            _round_trip(model.__name__, field.name, field)
    text, loaded = _round_trip("Document", "attachment", Document._meta.get_field("attachment"))
    assert loaded.upload_to is attachment_path and "import tests.kernel.test_files" in text
    assert "from dorm.fields import" in text and "FileField(" in text
    _, loaded = _round_trip("Document", "doc", Document._meta.get_field("doc"))
    assert loaded.upload_to == "docs/%Y" and loaded.null and loaded.max_length == 255
    _, loaded = _round_trip("Asset", "folder", Asset._meta.get_field("folder"))
    assert loaded.path is asset_root and loaded.allow_folders and not loaded.allow_files
    assert loaded.recursive and loaded.max_length == 100
    custom = dorm.FileField(upload_to="up", max_length=120,
                            storage=FileSystemStorage(location=str(tmp_path), base_url="/x/"))
    custom.set_attributes_from_name("custom")
    text, loaded = _round_trip("Document", "custom", custom)
    assert "storage=FileSystemStorage(" in text and "from dorm.files import FileSystemStorage" in text
    assert loaded.storage.location == str(tmp_path) and loaded.storage.base_url == "/x/"
    aliased = dorm.ImageField(storage="avatars")
    aliased.set_attributes_from_name("avatar")
    _, loaded = _round_trip("Photo", "avatar", aliased)
    assert loaded._storage_arg == "avatars"
    path_field = dorm.FilePathField(path="/srv/data", match=r"\.csv$")
    path_field.set_attributes_from_name("data")
    _, loaded = _round_trip("Asset", "data", path_field)
    assert loaded.path == "/srv/data" and loaded.match == r"\.csv$"


def test_migration_writer_rejects_lambda_upload_to():
    class WithLambda(dorm.Model):
        f = dorm.FileField(upload_to=lambda instance, filename: f"x/{filename}")

        class Meta:
            app_label = "files_tests_lambda"

    field = WithLambda._meta.get_field("f")
    assert field.generate_filename(WithLambda(), "a.txt") == "x/a.txt"   # fine at run time
    rebuilt = type(field)(*field.deconstruct()[2], **field.deconstruct()[3])
    assert rebuilt.generate_filename(WithLambda(), "b.txt") == "x/b.txt"
    try:
        with pytest.raises(SerializationError,
                           match=r"WithLambda.f \(FileField\): upload_to=.*lambda"):
            MigrationWriter(Migration("0001", "files_tests_lambda",
                                      [AddField("WithLambda", "f", field)], [])).as_string()
    finally:
        dorm.models.registry.unregister(WithLambda)
