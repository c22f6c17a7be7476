# Sourced by scripts/run: this installation's own SECRET_KEY and AUDIT_KEY, generated at random on
# first start and kept in var/secrets.env (mode 600, never committed: var/ is ignored). Values
# already in the environment win. Never a published constant.

installation_secrets_ensure() {
  local dir=${RIGHTLEVEL_VAR_DIR:-var}
  local file="$dir/secrets.env"
  mkdir -p "$dir"
  if [ ! -s "$file" ]; then
    (
      umask 077
      python3 -c 'import secrets
print("SECRET_KEY=" + secrets.token_urlsafe(64))
print("AUDIT_KEY=" + secrets.token_urlsafe(64))' >"$file"
    )
    echo "== generated this installation's SECRET_KEY and AUDIT_KEY in $file (keep it; back it up apart from the database)"
  fi
  if [ -z "${SECRET_KEY:-}" ]; then SECRET_KEY=$(sed -n 's/^SECRET_KEY=//p' "$file"); fi
  if [ -z "${AUDIT_KEY:-}" ]; then AUDIT_KEY=$(sed -n 's/^AUDIT_KEY=//p' "$file"); fi
  export SECRET_KEY AUDIT_KEY
}
