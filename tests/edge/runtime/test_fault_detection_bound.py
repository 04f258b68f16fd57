"""Issue 13 finding 14: the README promised BAD "within two poll periods", which the 0.5 s
floor of the read deadline does not keep for fast tags. The bound the README states now
is the code's (the runner uses these functions)."""

from __future__ import annotations

import re

from edge.runtime.device_runner import bad_within_s, read_deadline
from tests.conftest import REPO


def test_the_read_deadline_and_the_bad_bound() -> None:
    assert (
        read_deadline(0.2, 2.0) == 0.5 and read_deadline(1.0, 2.0) == 1.0 and read_deadline(5.0, 2.0) == 2.0
    )
    assert bad_within_s(1.0, 2.0) == 2.0 and bad_within_s(0.5, 2.0) == 1.0  # two poll periods
    assert bad_within_s(0.2, 2.0) == 0.7  # 3.5 periods, not two


def test_the_readme_states_the_bound_the_code_keeps() -> None:
    text = " ".join((REPO / "README.md").read_text().split())
    assert "within two poll periods." not in text
    m = re.search(r"a (\d+) ms tag within ([\d.]+) s", text)
    assert m is not None, "README: the bound for a fast tag"
    assert bad_within_s(int(m.group(1)) / 1000, 2.0) == float(m.group(2))
