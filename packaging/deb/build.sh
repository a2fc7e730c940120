#!/bin/bash
# Builds the two Debian packages from this checkout:
#   fleetban_VERSION_ARCH.deb        the central host: CLI, service, /etc/fleetban
#   fleetban-remote_VERSION_all.deb  the mail servers: the forced-command helper
#
# Usage: packaging/deb/build.sh [--out DIR] [--remote-helper FILE]
#   --out DIR             where the .deb files go (default dist/deb)
#   --remote-helper FILE  the helper to package (default packaging/remote/fleetban-remote)
# Environment: DEB_REVISION (default 1), DEBFULLNAME and DEBEMAIL (Maintainer).
#
# Needs: node and npm's installed node_modules (`npm ci`), dpkg-deb. No
# network: the production dependencies are copied from node_modules (the
# native better-sqlite3 addon already compiled there) instead of running
# `npm ci --omit=dev`, which would compile SQLite again for a minute.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

out=dist/deb
remote_helper=packaging/remote/fleetban-remote
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --remote-helper) remote_helper=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

die() { echo "build.sh: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb is needed (Debian package dpkg)"
command -v node >/dev/null || die "node is needed"
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
[ -f "$addon" ] || die "$addon is missing: run \`npm ci\` first"
[ -f "$remote_helper" ] || die "$remote_helper is missing (the remote helper, issue 6)"

version=$(node -p 'require("./package.json").version')
revision=${DEB_REVISION:-1}
debversion="$version-$revision"
arch=$(dpkg --print-architecture)
maintainer="${DEBFULLNAME:-fleetban maintainers} <${DEBEMAIL:-fleetban@example.org}>"
# better-sqlite3's addon is compiled for the ABI of one Node.js major
# version: a newer major refuses to load it ("compiled against a different
# Node.js version"). Depend on that major only, so that apt says so at
# install time instead of the service failing at start.
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20 or later is needed, this is $(node --version)"

# Timestamps in the packages: the last commit's, so that two builds of one
# commit give the same files (dpkg-deb clamps mtimes to SOURCE_DATE_EPOCH).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/fleetban-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
main="$stage/fleetban"
remote="$stage/fleetban-remote"
app="$main/usr/lib/fleetban"
mkdir -p "$app" "$main/DEBIAN" "$remote/DEBIAN"

# --- the application ---------------------------------------------------------
# Reuse dist/src when no source is newer than it (npm test builds it first);
# otherwise compile into the staging tree, leaving the shared dist/ alone.
if [ -f dist/src/cli/main.js ] && [ -z "$(find src tsconfig.json tsconfig.build.json -newer dist/src/cli/main.js -print -quit)" ]; then
  echo "build.sh: reusing dist/src"
  mkdir -p "$app/dist"
  cp -a dist/src "$app/dist/src"
else
  echo "build.sh: compiling src (dist/src is missing or older than src)"
  node_modules/.bin/tsc -p tsconfig.build.json --outDir "$app/dist" --sourceMap false
fi
[ -f "$app/dist/src/cli/main.js" ] || die "no dist/src/cli/main.js after the build"
# Source maps point at src/*.ts, which is not shipped.
find "$app/dist" -name '*.map' -delete
cp package.json "$app/"

# Production dependencies: every package-lock.json entry not marked dev,
# copied whole (a nested node_modules inside a copied package comes along).
node -e '
  const lock = require("./package-lock.json");
  const keep = Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith("node_modules/") && !meta.dev)
    .map(([path]) => path)
    .sort();
  const top = keep.filter((p) => !keep.some((q) => q !== p && p.startsWith(q + "/")));
  process.stdout.write(top.join("\n") + "\n");
' > "$stage/modules.txt"
while IFS= read -r dir; do
  [ -d "$dir" ] || die "$dir (a production dependency) is not installed: run \`npm ci\`"
  mkdir -p "$app/$(dirname "$dir")"
  cp -a "$dir" "$app/$dir"
done < "$stage/modules.txt"
# Dev-only packages that sit nested inside a production one.
node -e '
  const lock = require("./package-lock.json");
  for (const [path, meta] of Object.entries(lock.packages))
    if (meta.dev && path.split("node_modules/").length > 2) console.log(path);
' | while IFS= read -r dir; do rm -rf "${app:?}/$dir"; done
# better-sqlite3 at run time needs its JavaScript and the one compiled
# addon; its SQLite sources and object files (about 25 MB) only rebuild it.
bs3="$app/node_modules/better-sqlite3"
rm -rf "$bs3/deps" "$bs3/src" "$bs3/binding.gyp"
find "$bs3/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$bs3/build/Release" -mindepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
# The set must be complete: npm checks it against package.json, offline.
(cd "$app" && npm ls --omit=dev --all --offline >/dev/null 2>"$stage/npm-ls.txt") \
  || { cat "$stage/npm-ls.txt" >&2; die "production node_modules incomplete"; }

# /usr/bin/fleetban. It finds the application beside itself, so the same
# script runs from an unpacked tree (dpkg -x) as from /usr/bin. Debian's
# /usr/bin/node first: a node of another major from PATH (nvm) could not
# load the SQLite addon.
mkdir -p "$main/usr/bin"
cat > "$main/usr/bin/fleetban" <<'EOF'
#!/bin/sh
# fleetban command line (package fleetban); see `fleetban --help`.
self=$(readlink -f "$0")
lib=${self%/bin/*}/lib/fleetban
node=/usr/bin/node
[ -x "$node" ] || node=node
exec "$node" "$lib/dist/src/cli/main.js" "$@"
EOF
chmod 0755 "$main/usr/bin/fleetban"

# --- configuration: /etc/fleetban, every file a conffile ----------------------
mkdir -p "$main/etc"
cp -a conf "$main/etc/fleetban"
find "$main/etc/fleetban" -name '*.local' -delete   # the administrator's, never shipped
# conf/ is made for running from a checkout; the packaged fleetban.conf
# differs in two things, each edit checked so a reworded conf/ fails here:
#  - the state lives in /var/lib/fleetban (systemd's StateDirectory);
#  - syslog comes from the mail servers, on the standard port 514, on every
#    IPv4 address (only senders in allowed_senders or fleet.conf are heard).
edit() { # FILE SED-EXPRESSION EXPECTED-LINE
  sed -i -e "$2" "$1"
  grep -qxF "$3" "$1" || die "packaged $1: could not set \"$3\" (has conf/ changed?)"
}
conf="$main/etc/fleetban/fleetban.conf"
edit "$conf" 's|^statedir = .*|statedir = /var/lib/fleetban|' 'statedir = /var/lib/fleetban'
edit "$conf" 's|^udp = 127\.0\.0\.1:5514$|udp = 0.0.0.0:514|' 'udp = 0.0.0.0:514'
edit "$conf" 's|^tcp = 127\.0\.0\.1:5514$|tcp = 0.0.0.0:514|' 'tcp = 0.0.0.0:514'
(cd "$main" && find etc -type f | sort | sed 's|^|/|') > "$main/DEBIAN/conffiles"

# --- service, documentation, examples ------------------------------------------
install -D -m 0644 packaging/systemd/fleetban.service "$main/usr/lib/systemd/system/fleetban.service"
mkdir -p "$main/usr/share/fleetban"
cp -a packaging/forwarding "$main/usr/share/fleetban/forwarding"
install -D -m 0644 packaging/deb/copyright "$main/usr/share/doc/fleetban/copyright"
[ -f README.md ] && install -m 0644 README.md "$main/usr/share/doc/fleetban/README.md"
install -m 0755 packaging/deb/fleetban.postinst "$main/DEBIAN/postinst"
install -m 0755 packaging/deb/fleetban.prerm "$main/DEBIAN/prerm"
install -m 0755 packaging/deb/fleetban.postrm "$main/DEBIAN/postrm"

size() { du -sk --exclude=DEBIAN "$1" | cut -f1; }
cat > "$main/DEBIAN/control" <<EOF
Package: fleetban
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(size "$main")
Depends: nodejs (>= 20), nodejs (<< $((node_major + 1))), openssh-client, adduser
Suggests: systemd-journal-remote
Section: net
Priority: optional
Description: central log host for a mail fleet, with fail2ban's filters
 The mail servers (vpopmail, Courier) forward their logs to fleetban over
 syslog or the systemd journal. It matches fail2ban-compatible filters,
 counts failures per attacking address across the whole fleet, and pushes
 each ban to every mail server over SSH, acknowledged per host.
 .
 Install fleetban-remote on the mail servers to limit what its SSH key may do.
EOF

# --- fleetban-remote -------------------------------------------------------
# Installed in /usr/sbin: a package never writes to /usr/local, which is the
# administrator's (copy the script there by hand on hosts without dpkg).
install -D -m 0755 "$remote_helper" "$remote/usr/sbin/fleetban-remote"
# Its settings, all commented out: the helper's defaults (route,
# unreachable) apply until the administrator picks another action.
install -D -m 0644 packaging/deb/remote.conf "$remote/etc/fleetban/remote.conf"
echo /etc/fleetban/remote.conf > "$remote/DEBIAN/conffiles"
install -D -m 0644 packaging/deb/copyright "$remote/usr/share/doc/fleetban-remote/copyright"
remote_readme=$(dirname "$remote_helper")/README.md
[ -f "$remote_readme" ] && install -m 0644 "$remote_readme" "$remote/usr/share/doc/fleetban-remote/README.md"
mkdir -p "$remote/usr/share/fleetban-remote"
cp -a packaging/forwarding "$remote/usr/share/fleetban-remote/forwarding"
cat > "$remote/DEBIAN/control" <<EOF
Package: fleetban-remote
Version: $debversion
Architecture: all
Maintainer: $maintainer
Installed-Size: $(size "$remote")
Depends: iproute2
Suggests: ipset, iptables, nftables, rsyslog-gnutls
Section: net
Priority: optional
Description: fleetban's least-privilege ban helper for the mail servers
 A forced command for the SSH key of the fleetban central host: it reads
 ban, unban, check, list and flush requests, validates every address and
 jail name, and runs the locally configured firewall action (route, ipset
 or nftables). With it, the central host's key can ban and unban addresses
 and nothing else.
 .
 Also carries the forwarding examples for rsyslog, syslog-ng and the journal.
EOF

# --- build --------------------------------------------------------------------
main_deb="$out/fleetban_${debversion}_${arch}.deb"
remote_deb="$out/fleetban-remote_${debversion}_all.deb"
# --root-owner-group: every file root:root without fakeroot; the service
# user's folders are made in postinst.
dpkg-deb --root-owner-group -Zxz --build "$main" "$main_deb" >/dev/null
dpkg-deb --root-owner-group -Zxz --build "$remote" "$remote_deb" >/dev/null
for deb in "$main_deb" "$remote_deb"; do
  echo "build.sh: $deb ($(du -k "$deb" | cut -f1) KiB)"
done
