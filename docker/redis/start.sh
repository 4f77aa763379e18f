#!/bin/sh
# Start Redis with docker/redis/users.acl: each user's {password} becomes the
# SHA-256 of its own compose secret (redis_<user>_password), so the ACL file
# Redis reads holds no password in clear; comments and blank lines are dropped.
#   start.sh [redis-server options…]
# CADENCIA_REDIS_ACL_TEMPLATE, CADENCIA_REDIS_SECRETS and CADENCIA_REDIS_ACL
# (where the ACL file is written) let a test run it outside the container.
set -eu
template=${CADENCIA_REDIS_ACL_TEMPLATE:-/etc/cadencia/redis/users.acl}
secrets=${CADENCIA_REDIS_SECRETS:-/run/secrets}
acl=${CADENCIA_REDIS_ACL:-/tmp/cadencia-users.acl}
umask 077
: > "$acl"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    ''|'#'*) continue ;;
    *'{password}'*)
      user=$(printf '%s\n' "$line" | cut -d' ' -f2)
      file="$secrets/redis_${user}_password"
      if [ ! -s "$file" ]; then
        echo "start.sh: user $user: $file is missing or empty" >&2
        exit 1
      fi
      # One line: the trailing line end is not part of the password (as the
      # application reads CADENCIA_REDIS_PASSWORD_FILE).
      hash=$(tr -d '\r\n' < "$file" | sha256sum | cut -d' ' -f1)
      line=$(printf '%s\n' "$line" | sed "s/{password}/#$hash/")
      ;;
  esac
  printf '%s\n' "$line" >> "$acl"
done < "$template"
exec redis-server "$@" --aclfile "$acl"
