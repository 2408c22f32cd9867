# Read scripts/platforms; source it, do not run it.
#
# Sets EC_VERSIONS (the supported PostgreSQL majors, in order),
# EC_RELEASE[major] (the Debian release that ships each) and
# EC_NATIVE_PG (the major this machine's Debian release ships, empty if
# none of the list).
EC_VERSIONS=()
declare -A EC_RELEASE=()
while read -r ec_v ec_r _; do
	[[ -z $ec_v || $ec_v == \#* ]] && continue
	EC_VERSIONS+=("$ec_v")
	EC_RELEASE[$ec_v]=$ec_r
done <"$(dirname "${BASH_SOURCE[0]}")/platforms"

EC_NATIVE_PG=${EC_NATIVE_PG:-}
if [[ -z $EC_NATIVE_PG && -r /etc/os-release ]]; then
	ec_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	# sid names the next release in os-release; its apt sources say sid
	grep -qs -E '^(Suites:|deb ).* sid( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null &&
		ec_codename=sid
	for ec_v in "${EC_VERSIONS[@]}"; do
		[[ ${EC_RELEASE[$ec_v]} == "$ec_codename" ]] && EC_NATIVE_PG=$ec_v
	done
fi
unset ec_v ec_r ec_codename
