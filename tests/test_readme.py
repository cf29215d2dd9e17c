"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index):
    block = BLOCKS[index]
    if "Tempering(0.5)" in block and "class Tempering" not in block:
        # The laws snippet refers to the handler defined in proofs' docstring.
        from proofs import __doc__ as proofs_doc

        setup = proofs_doc.split("Checking a new handler::")[1].split("# A zero-argument")[0]
        block = "\n".join(line[4:] for line in setup.splitlines()) + "\n" + block
    exec(compile(block, f"README block {index}", "exec"), {})
