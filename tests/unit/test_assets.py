"""toolkit/assets.py: content-hashed names, references rewritten, comments stripped safely."""

from __future__ import annotations

from pathlib import Path

from marketbox.toolkit.assets import AssetRegistry, strip_comments


def registry(tmp_path: Path, files: dict[str, str]) -> AssetRegistry:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return AssetRegistry([("/static", tmp_path, True)])


def test_a_file_gets_a_name_that_changes_with_its_content(tmp_path: Path) -> None:
    before = registry(tmp_path / "a", {"site.css": "a{color:red}"}).url("site.css")
    after = registry(tmp_path / "b", {"site.css": "a{color:blue}"}).url("site.css")
    assert before.startswith("/static/site.") and before.endswith(".css")
    assert before != after


def test_an_import_names_the_hashed_url_and_a_changed_module_renames_its_importers(
    tmp_path: Path,
) -> None:
    page = "import { f } from '/static/lib/mod.js';\nf();\n"
    one = registry(tmp_path / "a", {"page.js": page, "lib/mod.js": "export const f = 1;\n"})
    two = registry(tmp_path / "b", {"page.js": page, "lib/mod.js": "export const f = 2;\n"})
    found = one.find(one.url("page.js"))
    assert found is not None and found.hashed
    assert f"from '{one.url('/static/lib/mod.js')}'" in found.asset.body.decode()
    assert one.url("page.js") != two.url("page.js")


def test_the_plain_and_an_old_hashed_url_find_the_file_but_not_as_hashed(tmp_path: Path) -> None:
    assets = registry(tmp_path, {"site.css": "a{color:red}"})
    plain = assets.find("/static/site.css")
    old = assets.find("/static/site.0123abcd.css")
    assert plain is not None and not plain.hashed
    assert old is not None and not old.hashed and old.asset is plain.asset
    assert assets.find("/static/other.css") is None


def test_compressed_once(tmp_path: Path) -> None:
    asset = registry(tmp_path, {"site.css": "a { color: red }\n" * 100}).all()[0]
    assert asset.compressible
    assert asset.encoded("br") is asset.encoded("br")
    assert len(asset.encoded("gzip")) < len(asset.body)


def test_javascript_loses_only_whole_line_comments() -> None:
    source = b"a();\n/**\n * doc\n */\nb(); // kept\n  // gone\nconst u = 'http://x';\n"
    assert strip_comments(source, css=False) == b"a();\nb(); // kept\nconst u = 'http://x';\n"


def test_javascript_with_code_beside_a_comment_or_a_multiline_template_is_kept() -> None:
    for source in (b"a();\n/* x */ b();\n", b"x = `a\n// b\n`;\n", b"/* open\nb();\n"):
        assert strip_comments(source, css=False) == source


def test_css_loses_comments_and_white_space() -> None:
    source = b"/* c */\n.a  .b {\n  color: red; /* why */\n}\n"
    assert strip_comments(source, css=True) == b".a .b{color: red;}\n"
