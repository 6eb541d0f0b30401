#!/usr/bin/env bash
# Installs the real peers the tests talk to (Debian packages) and makes sure the local services
# the production-path tests use are up. Idempotent; cheap when everything is already there.
set -euo pipefail

need=()
for pkg in $(grep -v "^#" "$(dirname "$0")/test-debs.txt" 2>/dev/null); do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
      # One unsatisfiable package must not block the others: retry them one at a time.
      for pkg in "${need[@]}"; do
        apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
          || echo "test-setup: could not install $pkg; tests that need it will skip" >&2
      done
    fi
  else
    echo "test-setup: missing Debian packages (${need[*]}); tests that need them will skip" >&2
  fi
fi

# PostgreSQL: start it if the machine has it but it is down (as the machine notes describe).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | head -1)
  [ -n "$ver" ] && pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1 || true
fi
exit 0
