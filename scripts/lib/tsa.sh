# Sourced by scripts/lib/services.sh (test and bench commands) and scripts/run: a local RFC 3161
# time-stamping authority (scripts/tsa_server.py, which runs `openssl ts -reply`) on 127.0.0.1.
# tsa_start DIR makes the TSA's CA, key and certificate in DIR if they are not there yet, starts
# the server and sets TSA_LOCAL_URL and TSA_LOCAL_CERTIFICATE (the chain to verify tokens
# against). tsa_stop stops it, by its process id only.

_TSA_PID=""

tsa_start() {
  local dir=$1 python=${PYTHON_FOR_TSA:-python} port=""
  command -v openssl >/dev/null 2>&1 || { echo "openssl is needed for the local TSA" >&2; return 1; }
  mkdir -p "$dir"
  rm -f "$dir/port"
  "$python" scripts/tsa_server.py --dir "$dir" --port-file "$dir/port" 2>>"$dir/server.log" &
  _TSA_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$dir/port" ] && { port=$(cat "$dir/port"); break; }
    kill -0 "$_TSA_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "The local TSA did not start; see $dir/server.log" >&2
    return 1
  fi
  export TSA_LOCAL_URL="http://127.0.0.1:$port/"
  export TSA_LOCAL_CERTIFICATE="$(cd "$dir" && pwd)/tsa-chain.pem"
  echo "== local RFC 3161 TSA (openssl ts) on 127.0.0.1:$port"
}

tsa_stop() {
  if [ -n "$_TSA_PID" ]; then
    kill "$_TSA_PID" 2>/dev/null || true
    wait "$_TSA_PID" 2>/dev/null || true
    _TSA_PID=""
  fi
  return 0
}
