"""Print pip constraints pinning each runtime dependency to the lowest version that
``pyproject.toml`` allows (``msgspec>=0.19`` -> ``msgspec==0.19``), for ``make test-lowest``."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def main() -> int:
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        match = re.fullmatch(
            r"([A-Za-z0-9_.\-\[\]]+?)(\[[^\]]*\])?\s*>=\s*([^,\s]+).*", requirement
        )
        if match is None:
            print(f"no lower bound in {requirement!r}", file=sys.stderr)
            return 1
        print(f"{match.group(1)}=={match.group(3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
