#!/usr/bin/env bash
# make-dbtext.sh DIR USER PASSWORD DOMAIN [COUNT]: the db_text tables registrar-auth.cfg reads:
# version, subscriber (USER with PASSWORD at DOMAIN, plus user0000… when COUNT is given) and an
# empty location.
set -euo pipefail
dir=$1 user=$2 password=$3 domain=$4 count=${5:-0}
mkdir -p "$dir"
printf 'id(int,auto) table_name(string) table_version(int) \n0:version:1\n0:subscriber:7\n0:location:9\n0:location_attrs:1\n' >"$dir/version"
{
  printf 'id(int,auto) username(string) domain(string) password(string) \n'
  printf '1:%s:%s:%s\n' "$user" "$domain" "$password"
  for ((i = 0; i < count; i++)); do printf '%d:user%04d:%s:%s\n' $((i + 2)) "$i" "$domain" "$password"; done
} >"$dir/subscriber"
printf '%s\n' 'id(int,auto) ruid(string) username(string) domain(string,null) contact(string) received(string,null) path(string,null) expires(int) q(double) callid(string) cseq(int) last_modified(int) flags(int) cflags(int) user_agent(string) socket(string,null) methods(int,null) instance(string,null) reg_id(int) server_id(int) connection_id(int) keepalive(int) partition(int) ' >"$dir/location"
