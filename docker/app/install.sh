#!/usr/bin/env bash
# The application image's install steps, as a plain script so CI can run them
# without a Docker engine: install the locked, hash-checked runtime set
# (requirements/runtime.txt), build a wheel from the source tree and install
# it without resolving anything else, and prove the entry point works.
#   docker/app/install.sh PREFIX [SOURCE_DIR]
set -euo pipefail
prefix=${1:?usage: install.sh PREFIX [SOURCE_DIR]}
source_dir=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
python=${PYTHON:-python3}
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"$python" -m venv "$prefix"
"$prefix/bin/pip" install --quiet --upgrade pip wheel
"$prefix/bin/pip" install --quiet --require-hashes -r "$source_dir/requirements/runtime.txt"
"$prefix/bin/pip" wheel --quiet --no-deps --wheel-dir "$wheels" "$source_dir"
"$prefix/bin/pip" install --quiet --no-deps "$wheels"/cadencia-*.whl
"$prefix/bin/pip" check
# The installed package, not the source tree, must carry its data files.
cd /
"$prefix/bin/cadencia" --help >/dev/null
"$prefix/bin/cadencia" compliance packs --json | "$prefix/bin/python" -c \
  'import json,sys; packs=json.load(sys.stdin); assert len(packs) >= 10, packs'
"$prefix/bin/python" - <<'PY'
from channels import TemplateCatalog
from campaigns.storage.db import MIGRATIONS_DIR
assert (MIGRATIONS_DIR / "env.py").exists(), MIGRATIONS_DIR
TemplateCatalog.builtin()
print("cadencia installed and self-checked")
PY
