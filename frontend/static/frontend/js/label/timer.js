/* Palate labeling page: the lease timer. Counts down to the lease's end
 * (performance.now(), so a changed wall clock does not matter) and calls
 * onExpired once when it runs out. */

export function leaseTimer({ box, time, onExpired }) {
  let timer = null;
  let deadline = 0;
  let expired = false;

  function stop() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  }

  function tick() {
    if (expired) return;
    const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    const minutes = Math.floor(left / 60);
    time.textContent = `${minutes}:${String(left % 60).padStart(2, "0")}`;
    box.classList.toggle("warn", left > 0 && left <= 60);
    if (left <= 0) {
      expired = true;
      stop();
      time.textContent = "expired";
      box.classList.remove("warn");
      box.classList.add("expired");
      onExpired();
    }
  }

  function start(secondsLeft) {
    stop();
    expired = false;
    deadline = performance.now() + secondsLeft * 1000;
    box.classList.remove("warn", "expired");
    tick();
    timer = window.setInterval(tick, 1000);
  }

  function clear() {
    stop();
    time.textContent = "--:--";
  }

  // A background tab's timers are throttled: catch up when it is shown again.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer !== null) tick();
  });

  return { start, stop, clear, isExpired: () => expired };
}
