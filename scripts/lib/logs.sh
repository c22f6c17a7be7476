# Sourced by scripts/run: logs are appended across restarts; one grown past LOG_ROTATE_BYTES
# (default 10 MB) is rotated first (.1, .2, .3; the oldest is dropped), never truncated.
rotate_log() {
  local log=$1 limit=${LOG_ROTATE_BYTES:-10485760}
  if [ -f "$log" ] && [ "$(stat -c %s "$log")" -ge "$limit" ]; then
    rm -f "$log.3"
    if [ -f "$log.2" ]; then mv "$log.2" "$log.3"; fi
    if [ -f "$log.1" ]; then mv "$log.1" "$log.2"; fi
    mv "$log" "$log.1"
  fi
}
