# Sourced by scripts/run and scripts/test: create .venv once and install requirements only when
# the requirement files changed since the last install (so re-runs are fast and idempotent).
venv_ensure() {
  local python=$1 reqfile=$2
  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
      echo "Creating .venv failed: install python3-venv (apt-get install python3-venv) and retry." >&2
      exit 1
    fi
  fi
  local stamp=.venv/.rightlevel-installed-$(basename "$reqfile")
  local digest
  digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
  # requirements-dev.txt includes requirements.txt: its stamp covers the runtime install too.
  local dev_stamp=.venv/.rightlevel-installed-requirements-dev.txt
  if [ -f "$dev_stamp" ] && [ "$(cat "$dev_stamp")" = "$digest" ]; then stamp=$dev_stamp; fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    # (this machine's pip config names local mirror folders that may be absent: drop those warnings)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2> >(grep -v "is ignored" >&2)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqfile" 2> >(grep -v "is ignored" >&2)
    echo "$digest" >"$stamp"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
}
