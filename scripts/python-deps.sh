#!/usr/bin/env bash
# Makes sure /usr/bin/python3 has scikit-learn and pandas (Debian's packages),
# which the example model-builder workflow runs on.
set -euo pipefail
if /usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "koya's example workflow needs scikit-learn and pandas for /usr/bin/python3:" >&2
  echo "  sudo apt-get install -y python3-sklearn python3-pandas" >&2
  exit 1
fi
echo "installing python3-sklearn and python3-pandas (Debian packages)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-sklearn python3-pandas >/dev/null
/usr/bin/python3 -c 'import sklearn, pandas; print("scikit-learn", sklearn.__version__, "pandas", pandas.__version__)'
