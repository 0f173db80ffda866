"""scripts/moto_server.py's ListObjectVersions (its own answer, and listed versions that share the keys' content):
the same answers as S3 gives, and objects that keep their content however often they are listed."""

import pytest
from conftest import Bucket


def test_versions_and_delete_markers_are_listed_by_key_newest_first(s3, bucket):
    old, _ = bucket.put("imports/a.csv", b"1")
    new, new_etag = bucket.put("imports/a.csv", b"22")
    gone, _ = bucket.put("imports/b & <c>.csv", b"333")
    bucket.delete("imports/b & <c>.csv")
    bucket.put("reports/r.csv", b"4444")

    answer = s3.list_object_versions(Bucket=bucket.name, Prefix="imports/")

    listed = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in answer["Versions"]]
    assert listed == [
        ("imports/a.csv", new, True, 2),
        ("imports/a.csv", old, False, 1),
        ("imports/b & <c>.csv", gone, False, 3),
    ]
    assert answer["Versions"][0]["ETag"] == f'"{new_etag}"'
    [marker] = answer["DeleteMarkers"]
    assert (marker["Key"], marker["IsLatest"]) == ("imports/b & <c>.csv", True)
    assert marker["VersionId"] not in (old, new, gone)
    assert (answer["Name"], answer["Prefix"], answer["IsTruncated"]) == (bucket.name, "imports/", False)


def test_a_listing_goes_on_page_by_page_from_its_markers(s3, bucket):
    for key in ("imports/a.csv", "imports/a.csv", "imports/b.csv", "imports/c.csv"):
        bucket.put(key)
    expected = [(v["Key"], v["VersionId"]) for v in s3.list_object_versions(Bucket=bucket.name)["Versions"]]

    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket.name, MaxKeys=1))

    assert [(v["Key"], v["VersionId"]) for page in pages for v in page.get("Versions", [])] == expected
    assert len(pages) == 4 and all(page["IsTruncated"] for page in pages[:-1])


def test_a_delimiter_lists_common_prefixes(s3, bucket):
    bucket.put("imports/a.csv")
    bucket.put("imports/observations/x.csv")

    answer = s3.list_object_versions(Bucket=bucket.name, Prefix="imports/", Delimiter="/")

    assert [v["Key"] for v in answer["Versions"]] == ["imports/a.csv"]
    assert answer["CommonPrefixes"] == [{"Prefix": "imports/observations/"}]


# moto keeps up to 5 MiB of an object in memory, more in a file.
@pytest.mark.parametrize("size", [10, 6 * 1024 * 1024], ids=["in-memory", "in-a-file"])
def test_every_version_keeps_its_content_however_often_it_is_listed(s3, size):
    bucket = Bucket(s3)
    bodies = [bytes([n]) * size for n in (1, 2)]
    versions = [bucket.put("imports/kept.csv", body)[0] for body in bodies]

    # Each listing's copies of the versions are gone once it has answered.
    for _ in range(3):
        s3.list_object_versions(Bucket=bucket.name)

    for version, body in zip(versions, bodies):
        assert s3.get_object(Bucket=bucket.name, Key="imports/kept.csv", VersionId=version)["Body"].read() == body
