import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from support.paths import REPO

from cleanroom.settings import SETTINGS, Settings

ANSIBLE = REPO / "ansible"
ROLE = ANSIBLE / "roles" / "cleanroom"
# Role variables whose default differs from the setting's on purpose, and why.
ROLE_DEFAULTS_THAT_DIFFER = {
    "public_host": "the host's own name (ansible_fqdn): localhost would serve nobody else",
}


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


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def test_role_defaults_are_the_settings_defaults():
    # The role restates the defaults of the settings it exposes; they must be the same ones.
    defaults = role_defaults()
    checked = []
    for variable, value in defaults.items():
        name = variable.removeprefix("cleanroom_")
        if name not in SETTINGS or name in ROLE_DEFAULTS_THAT_DIFFER:
            continue
        spec = SETTINGS[name]
        assert spec.parse(str(value)) == getattr(Settings(), name), (
            f"{variable}: {value!r} in the role's defaults/main.yml, but the setting's default "
            f"is {spec.default!r} (cleanroom/settings.py): make them the same"
        )
        checked.append(name)
    assert {"state_dir", "https_port", "mem_limit", "display_rate", "notebook_cap"} <= set(checked)
    assert set(ROLE_DEFAULTS_THAT_DIFFER) <= {v.removeprefix("cleanroom_") for v in defaults}


def test_the_settings_file_writes_known_settings_from_role_variables():
    template = (ROLE / "templates" / "settings.env.j2").read_text()
    lines = [line for line in template.splitlines() if line and not line.startswith("#")]
    defaults = role_defaults()
    for line in lines:
        match = re.fullmatch(r"CLEANROOM_(\w+)=\{\{ (\w+) \}\}", line)
        assert match, line
        name = match.group(1).lower()
        assert name in SETTINGS, f"{line}: no setting {name} in cleanroom/settings.py"
        assert match.group(2) == f"cleanroom_{name}", line
        assert match.group(2) in defaults, f"{line}: {match.group(2)} has no role default"
