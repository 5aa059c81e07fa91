#!/usr/bin/env bash
# Install or upgrade a reader station on Raspberry Pi OS (Bookworm) or Debian 12, as root,
# from a checkout of this repository:
#
#   sudo scripts/install-pi.sh             # install, or upgrade in place
#   scripts/install-pi.sh --dry-run        # print every step, change nothing
#
# Idempotent: each step looks first and acts only when needed. Re-running upgrades the code and
# units in place and keeps the keys, the configuration and the outbox (/etc/station,
# /var/lib/station are never overwritten). After the first run: edit /etc/station/station.toml,
# then provision (README "Provisioning") and `systemctl start station`.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/station
# Overridable for the installer's own tests (a dry run against a temp directory).
CONF_DIR=${STATION_CONF_DIR:-/etc/station}
STATE_DIR=/var/lib/station
UNIT_DIR=/etc/systemd/system
SERVICE_USER=station
GROUPS_NEEDED=(gpio video i2c spi)
DRY_RUN=0
DO_APT=1
START=0
STATION_ID=""

APT_PACKAGES=(pcscd libccid pcsc-tools libpcsclite-dev swig gcc python3-venv python3-dev
              libzbar0 fonts-dejavu-core openssl ca-certificates
              tesseract-ocr fonts-ocr-b)
# Only in the Raspberry Pi archive; installed when apt knows them.
APT_OPTIONAL=(python3-picamera2 python3-libcamera python3-lgpio)

usage() {
    cat <<EOF
usage: $0 [--dry-run] [--no-apt] [--start] [--id STATION_ID] [--prefix DIR]

  --dry-run     print the steps that would run, change nothing
  --no-apt      do not install system packages (already there, or offline)
  --start       (re)start the service at the end (default: only enable it; restart it if it
                was already running)
  --id ID       the station id, written into a new configuration; the station's keys are
                made once the configuration has an id of its own
  --prefix DIR  where the code and its virtualenv live (default $PREFIX)
EOF
}

while (($#)); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --no-apt) DO_APT=0 ;;
        --start) START=1 ;;
        --id) STATION_ID=${2:?--id needs a station id}; shift ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
VENV="$PREFIX/venv"
if [ -n "$STATION_ID" ] && ! [[ "$STATION_ID" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
    echo "install-pi: a station id is letters, digits, '-' or '_' (it becomes an MQTT topic level)" >&2
    exit 2
fi

step() { printf '==> %s\n' "$*"; }
# Every change goes through run: printed in a dry run, printed and executed otherwise.
run() {
    printf '  +'
    printf ' %q' "$@"
    printf '\n'
    if ((DRY_RUN == 0)); then "$@"; fi
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_knows() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [^(]'; }

if ((DRY_RUN == 0)) && [ "$(id -u)" -ne 0 ]; then
    echo "install-pi: run as root (or with --dry-run)" >&2
    exit 1
fi

model=$(tr -d '\0' 2>/dev/null </proc/device-tree/model || true)
step "station installer: source $SRC, prefix $PREFIX${model:+, board: $model}"
case "$model" in
    *"Raspberry Pi 5"*)
        echo "  note: Pi 5 GPIO is driven through lgpio (RPi.GPIO does not work on a Pi 5)" ;;
    *"Raspberry Pi"*|"") ;;
    *) echo "  note: not a Raspberry Pi; the camera falls back to v4l2/replay" ;;
esac

# --- 1. system packages --------------------------------------------------------------------
step "system packages"
if ((DO_APT)); then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do have_pkg "$p" || missing+=("$p"); done
    for p in "${APT_OPTIONAL[@]}"; do
        if ! have_pkg "$p" && apt_knows "$p"; then missing+=("$p"); fi
    done
    if ((${#missing[@]})); then
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"
    else
        echo "  all present"
    fi
else
    echo "  skipped (--no-apt)"
fi

# --- 2. user and groups --------------------------------------------------------------------
step "service user $SERVICE_USER and groups ${GROUPS_NEEDED[*]}"
for g in "${GROUPS_NEEDED[@]}"; do
    getent group "$g" >/dev/null || run groupadd --system "$g"
done
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "CCCD reader station" "$SERVICE_USER"
fi
joined=$(id -nG "$SERVICE_USER" 2>/dev/null || true)
for g in "${GROUPS_NEEDED[@]}"; do
    [[ " $joined " == *" $g "* ]] || run usermod -aG "$g" "$SERVICE_USER"
done

# --- 3. code and virtualenv ----------------------------------------------------------------
step "code in $PREFIX/src, virtualenv $VENV (with system site packages, for picamera2)"
run install -d -m 0755 "$PREFIX"
# Replace the code, never anything under /etc or /var/lib.
run rm -rf "$PREFIX/src.new"
run cp -a "$SRC" "$PREFIX/src.new"
run rm -rf "$PREFIX/src.new/.venv" "$PREFIX/src.new/.git"
run rm -rf "$PREFIX/src"
run mv "$PREFIX/src.new" "$PREFIX/src"
run install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
if [ ! -x "$VENV/bin/python" ]; then
    run python3 -m venv --system-site-packages "$VENV"
fi
run "$VENV/bin/python" -m pip install -q --upgrade pip
run "$VENV/bin/python" -m pip install -q --upgrade "$PREFIX/src[pi,qr,mrz]"

# --- 4. configuration and state (kept across upgrades) -------------------------------------
step "configuration $CONF_DIR/station.toml and state $STATE_DIR (kept if present)"
run install -d -m 0755 "$CONF_DIR"
TEMPLATE_ID=$(sed -n 's/^id = "\([^"]*\)".*/\1/p' "$SRC/examples/station.toml")
if [ -e "$CONF_DIR/station.toml" ]; then
    # The new template next to it, to diff after an upgrade.
    run install -m 0644 "$SRC/examples/station.toml" "$CONF_DIR/station.toml.dist"
else
    run install -m 0644 "$SRC/examples/station.toml" "$CONF_DIR/station.toml"
    if [ -n "$STATION_ID" ]; then
        run sed -i "s/^id = \"$TEMPLATE_ID\"/id = \"$STATION_ID\"/" "$CONF_DIR/station.toml"
    fi
fi
run install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR" "$STATE_DIR/keys"
run install -d -m 0755 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR/trust"
configured_id=$(sed -n 's/^id = "\([^"]*\)".*/\1/p' "$CONF_DIR/station.toml" 2>/dev/null || true)
if [ -n "$STATION_ID" ] || { [ -n "$configured_id" ] && [ "$configured_id" != "$TEMPLATE_ID" ]; }
then
    # Creates the signing key and TLS key + CSR only when there are none: re-runs keep them.
    run "$VENV/bin/station" --config "$CONF_DIR/station.toml" provision --user "$SERVICE_USER" \
        ${STATION_ID:+--id "$STATION_ID"} init
else
    echo "  no station id yet: set station.id in $CONF_DIR/station.toml (or pass --id),"
    echo "  then run: station provision --user $SERVICE_USER init"
fi

# --- 5. systemd, polkit, udev, modprobe ----------------------------------------------------
step "systemd unit, polkit rule, udev rules, NFC module blacklist"
run install -m 0644 "$SRC/systemd/station.service" "$UNIT_DIR/station.service"
run install -d -m 0755 /etc/polkit-1/rules.d
run install -m 0644 "$SRC/systemd/60-station-pcscd.rules" /etc/polkit-1/rules.d/60-station-pcscd.rules
run install -m 0644 "$SRC/systemd/60-station.rules" /etc/udev/rules.d/60-station.rules
run install -m 0644 "$SRC/systemd/station-nfc-blacklist.conf" \
    /etc/modprobe.d/station-nfc-blacklist.conf
run udevadm control --reload-rules
run udevadm trigger --subsystem-match=gpio --subsystem-match=video4linux \
    --subsystem-match=i2c-dev --subsystem-match=spidev
run systemctl daemon-reload
run systemctl enable --now pcscd.socket
run systemctl enable station.service

# --- 6. (re)start ----------------------------------------------------------------------------
step "service"
if ((START)) || systemctl is-active --quiet station.service 2>/dev/null; then
    run systemctl restart station.service
else
    echo "  enabled, not started: provision it (README \"Provisioning\"), then"
    echo "  systemctl start station && station doctor"
fi
step "done"
