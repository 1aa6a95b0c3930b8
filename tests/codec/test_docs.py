"""The README's field tables are derived from the schemas: this fails when they are stale.

Regenerate with `make readme`.
"""

from pathlib import Path

from codec.mikey import fieldtable

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(text, name):
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    assert begin in text and end in text, f"README lacks the {name} markers"
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_readme_field_table_is_current():
    text = README.read_text()
    assert _section(text, "fields") == fieldtable.markdown(), "run `make readme`"
    assert _section(text, "srtp-params") == fieldtable.SRTP_PARAM_NAMES + "\n", "run `make readme`"


def test_readme_opens_with_the_two_commands():
    lines = [ln for ln in README.read_text().splitlines() if ln.strip()]
    assert lines[1:4] == ["```sh", lines[2], lines[3]]
    assert lines[2].startswith("make demo") and lines[3].startswith("make test")
