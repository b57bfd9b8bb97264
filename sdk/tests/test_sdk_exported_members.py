import re
import subprocess
import sys

import marketbox_sdk


def _isort_key(name: str) -> tuple[int, str]:
    # ruff RUF022 ("isort-style"): SCREAMING_CASE, then CamelCase, then the rest.
    if re.fullmatch(r"[A-Z0-9_]+", name) and not name.startswith("_"):
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_public_names_are_exported_and_sorted() -> None:
    public = {
        name for name in vars(marketbox_sdk) if not name.startswith("_") or name == "__version__"
    }

    assert set(marketbox_sdk.__all__) == public
    assert marketbox_sdk.__all__ == sorted(marketbox_sdk.__all__, key=_isort_key)


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in marketbox_sdk.__all__
        if callable(getattr(marketbox_sdk, name)) and not getattr(marketbox_sdk, name).__doc__
    ]

    assert undocumented == []


def test_sdk_imports_without_server_dependencies() -> None:
    code = (
        "import sys, marketbox_sdk; "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'marketbox', 'fastapi', 'sqlalchemy', 'pydantic', 'starlette'}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
