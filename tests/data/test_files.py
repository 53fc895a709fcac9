"""The search every file data set shares (data/files.py): names tried in order within each folder, a name ending
in "/" only ever a folder, and the one message when nothing is found."""

import pytest

from advnets.data import files
from advnets.errors import UserError

ARCHIVE = files.DataFile(found_as=("data.tar.gz", "data/"), published_sha256=None)
OTHER = files.DataFile(found_as=("other.bin",), published_sha256=None)
SOURCE = files.DataSource(name="toy", files=(ARCHIVE, OTHER), mirrors=("https://example.org/toy/",), forms="or its folder")


def test_names_in_order_within_a_folder_and_folders_in_order(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    (second / "data").mkdir(parents=True)
    (first / "toy").mkdir(parents=True)
    (first / "toy" / "data").write_text("a file where a folder is meant")  # not a match: "data/" is a folder
    folders = files.search_folders(SOURCE, str(first))
    assert folders[:2] == [first, first / "toy"]
    assert files.find_file(ARCHIVE, folders) is None
    assert files.find_file(ARCHIVE, [first / "toy", second]) == second / "data"
    (second / "data.tar.gz").write_bytes(b"")
    assert files.find_file(ARCHIVE, [second]) == second / "data.tar.gz"  # the published file first


def test_the_message_lists_every_missing_file_of_the_source(tmp_path):
    (tmp_path / "other.bin").write_bytes(b"")
    with pytest.raises(UserError) as err:
        files.locate(SOURCE, ARCHIVE, root=str(tmp_path), download_missing=False)
    message = str(err.value)
    assert message.startswith(f"toy files not found: data.tar.gz (or its folder); looked in, in order: {tmp_path}, ")
    assert "other.bin" not in message and "data.download=true" in message
    assert files.locate(SOURCE, OTHER, root=str(tmp_path), download_missing=False) == tmp_path / "other.bin"
