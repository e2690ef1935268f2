#!/usr/bin/env bash
# Regenerates the cn=config forms of the schema (schema/NAME.ldif) from the
# slapd.conf forms (schema/NAME.schema) the way Debian's /etc/ldap/schema/*.ldif
# are made: slaptest converts, then the {N} ordering prefixes and the
# operational attributes are stripped and the DN is made absolute.
#   scripts/schema-ldif.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=(openssh-lpk semail semail-software)
{
  echo "include /etc/ldap/schema/core.schema"
  for n in "${names[@]}"; do echo "include $here/schema/$n.schema"; done
} > "$tmp/slapd.conf"
mkdir "$tmp/slapd.d"
slaptest -Q -f "$tmp/slapd.conf" -F "$tmp/slapd.d"
for n in "${names[@]}"; do
  src=$(ls "$tmp"/slapd.d/cn=config/cn=schema/cn=\{*\}"$n".ldif)
  {
    echo "# $n schema, cn=config form. Generated from schema/$n.schema by"
    echo "# scripts/schema-ldif.sh (slaptest, as Debian's /etc/ldap/schema/*.ldif)."
    echo "# Load it with: ldapadd -Y EXTERNAL -H ldapi:/// -f $n.ldif"
    # Unfold, rewrite, drop operational attributes; refold at 78 columns like
    # slapd, never after a space (editors strip trailing blanks).
    sed -e '/^#/d' "$src" | awk '
      /^ / { cur = cur substr($0, 2); next }
      { if (cur != "") print cur; cur = $0 }
      END { if (cur != "") print cur }' |
    sed -E -e 's/^dn: cn=\{[0-9]+\}(.*)$/dn: cn=\1,cn=schema,cn=config/' \
           -e 's/^cn: \{[0-9]+\}/cn: /' \
           -e 's/^(olc[A-Za-z]+): \{[0-9]+\}/\1: /' |
    grep -Ev '^(structuralObjectClass|entryUUID|creatorsName|createTimestamp|entryCSN|modifiersName|modifyTimestamp):' |
    awk '{ line = $0; first = 1
           while (length(line) > (first ? 78 : 77)) { n = first ? 78 : 77; while (substr(line, n, 1) == " ") n--; print (first ? "" : " ") substr(line, 1, n); line = substr(line, n + 1); first = 0 }
           print (first ? "" : " ") line }'
  } > "$here/schema/$n.ldif"
done
echo "wrote ${names[*]/%/.ldif} in $here/schema"
