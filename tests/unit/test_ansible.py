import shutil
import subprocess
import sys
from pathlib import Path

ANSIBLE = Path(__file__).parents[2] / "ansible"


def test_playbook_syntax_is_valid():
    playbook = Path(sys.executable).parent / "ansible-playbook"
    assert playbook.exists() or shutil.which("ansible-playbook"), "pip install ansible-core"
    result = subprocess.run(
        [
            str(playbook),
            "--syntax-check",
            "-i",
            str(ANSIBLE / "inventory.example.ini"),
            str(ANSIBLE / "site.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_role_variable_is_prefixed_and_commented():
    lines = (ANSIBLE / "roles/cleanroom/defaults/main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith(("#", "---", " ")):
            assert line.startswith("cleanroom_"), line
            assert lines[i - 1].startswith("#") or lines[i - 1].startswith("cleanroom_"), line
