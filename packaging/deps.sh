# Debian 12 packages tocsin needs, and one function that installs the missing
# ones (apt-get update once, only when something is missing).  Sourced by
# .ci/run and etc/demo/quickstart.sh.
TOCSIN_BUILD_DEPS="build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev
  libc-ares-dev libjansson-dev libssl-dev libyaml-dev libinih-dev libsqlite3-dev libmicrohttpd-dev libsystemd-dev"
TOCSIN_TEST_DEPS="libcmocka-dev prometheus prometheus-alertmanager nodejs python3 valgrind mandoc"
TOCSIN_DEMO_DEPS="nodejs"
# tests/fuzz/run.sh: libFuzzer comes with clang's runtime libraries.
TOCSIN_FUZZ_DEPS="clang libclang-rt-14-dev"
# packaging/build: the deb (debhelper, dpkg-dev, fakeroot, lintian) and the rpm
# (Debian's rpm has rpmbuild; debugedit and rpm2cpio come with it).
TOCSIN_PACKAGE_DEPS="debhelper dpkg-dev fakeroot lintian rpm cpio"

tocsin_install_deps() {
  local want="" missing="" pkg sudo=""
  for set in "$@"; do
    case "$set" in
      build) want="$want $TOCSIN_BUILD_DEPS" ;;
      test) want="$want $TOCSIN_TEST_DEPS" ;;
      demo) want="$want $TOCSIN_DEMO_DEPS" ;;
      package) want="$want $TOCSIN_PACKAGE_DEPS" ;;
      fuzz) want="$want $TOCSIN_FUZZ_DEPS" ;;
    esac
  done
  for pkg in $want; do
    # A node or python3 already on PATH (not from Debian) will do.
    case "$pkg" in
      nodejs) command -v node >/dev/null && continue ;;
      python3) command -v python3 >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing:$missing"
  $sudo apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
}
