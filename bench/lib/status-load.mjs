// node status-load.mjs URL RATE SECONDS [WARM_UP_SECONDS]: GETs URL at RATE per
// second for WARM_UP_SECONDS, then again for SECONDS (open loop: a slow answer
// does not slow the sender down) and prints, as JSON, for each of the two
// phases every latency in ms, the failures, and whether the last answer still
// showed the request busy. A process of its own, so that the bench's image
// server does not share an event loop with the clock that times the answers.
import { setTimeout as sleep } from 'node:timers/promises';

const [target, rate, seconds, warmUpSeconds] = process.argv.slice(2).map((arg, i) => (i === 0 ? arg : Number(arg)));
// The first fetch of a process loads undici and opens its connection: not the service's latency.
for (let n = 0; n < 20; n++) await fetch(target).then((response) => response.arrayBuffer());
const warmUp = await load(warmUpSeconds ?? 0);
const measured = await load(seconds);
console.log(JSON.stringify({ warmUp, measured }));

async function load(duration) {
  const latencies = [];
  let failures = 0;
  let busyAtEnd = true;
  const pending = [];
  const started = performance.now();
  for (let n = 0; n < rate * duration; n++) {
    const wait = started + (n * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const sent = performance.now();
    pending.push(
      fetch(target)
        .then(async (response) => {
          const body = await response.json();
          latencies.push(performance.now() - sent);
          if (!response.ok) failures++;
          busyAtEnd = !body.completed;
        })
        .catch(() => failures++),
    );
  }
  await Promise.all(pending);
  return { latencies, failures, busyAtEnd };
}
