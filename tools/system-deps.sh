#!/bin/sh
# The Debian packages the tests need beside the venv: Prometheus and promtool
# (rule tests, a real Prometheus scraping the exporter), Alertmanager (Console
# alerts forwarded to a real one) and curl (TLS scrapes).
# Installs what is missing when run as root on Debian; otherwise says what to
# install and exits 2. Stops the packaged Prometheus and Alertmanager services
# that Debian starts on install (through systemd or their init scripts, which
# stop by pidfile): the tests run their own instances on free ports. Nothing
# else is stopped.
set -eu

missing=""
for tool in promtool prometheus prometheus-alertmanager curl; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0

packages="prometheus prometheus-alertmanager curl ca-certificates"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs$missing (Debian: apt-get install $packages)." >&2
  echo "Run make test as root to install them, or install them and run it again." >&2
  exit 2
fi
echo "installing Debian packages for:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $packages >/dev/null
for service in prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service"
  elif [ -x "/etc/init.d/$service" ]; then
    "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done
