// rate-limiter-flexible's RateLimiterRedis on the same server and workload as
// sluice_redis_load: N concurrent callers, random keys, token-bucket-like
// points/duration. Prints {"decisions_per_second", "p50_us", "p99_us"}.
const Redis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');

const [port, callers, seconds, keys] = process.argv.slice(2).map(Number);
const redis = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: true });
const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'rlf', points: 1000, duration: 1 });

async function caller(deadline, latencies) {
  while (Date.now() < deadline) {
    const key = 'user:' + Math.floor(Math.random() * keys);
    const t0 = process.hrtime.bigint();
    try { await limiter.consume(key, 1); } catch (rejected) { /* a denial */ }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
}

(async () => {
  const latencies = [];
  const start = Date.now();
  const deadline = start + seconds * 1000;
  await Promise.all(Array.from({ length: callers }, () => caller(deadline, latencies)));
  const elapsed = (Date.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.floor(p * (latencies.length - 1))];
  console.log(JSON.stringify({ callers, decisions_per_second: Math.round(latencies.length / elapsed),
                               p50_us: pct(0.5), p99_us: pct(0.99) }));
  redis.disconnect();
})();
