# Sourced by scripts that need a display. Starts Xvfb on a free display unless DISPLAY is set,
# waits until it accepts connections, and stops it on exit.
start_xvfb() {
  [[ -n "${DISPLAY:-}" ]] && return 0
  local n
  for n in $(seq 90 190); do
    [[ -e "/tmp/.X11-unix/X$n" || -e "/tmp/.X$n-lock" ]] || break
  done
  Xvfb ":$n" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  trap 'kill "$XVFB_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    [[ -S "/tmp/.X11-unix/X$n" ]] && break
    kill -0 "$XVFB_PID" 2>/dev/null || { echo "Xvfb :$n did not start" >&2; return 1; }
    sleep 0.1
  done
  [[ -S "/tmp/.X11-unix/X$n" ]] || { echo "Xvfb :$n did not open its socket" >&2; return 1; }
  export DISPLAY=":$n"
}
