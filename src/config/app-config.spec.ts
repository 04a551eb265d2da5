import { ConfigValidationError, loadConfig } from './app-config.js';

describe('loadConfig: performance settings', () => {
  it('defaults to full JPEG decoding, image threads at nice 10 and a 120 s upload window', () => {
    const config = loadConfig({});

    expect(config.jpegShrinkOnLoad).toBe(false);
    expect(config.imageThreadNice).toBe(10);
    expect(config.limits.uploadTimeoutMs).toBe(120_000);
  });

  it('reads valid values', () => {
    const config = loadConfig({ JPEG_SHRINK_ON_LOAD: 'true', IMAGE_THREAD_NICE: '0', UPLOAD_TIMEOUT_MS: '5000' });

    expect(config.jpegShrinkOnLoad).toBe(true);
    expect(config.imageThreadNice).toBe(0);
    expect(config.limits.uploadTimeoutMs).toBe(5000);
  });

  it.each([
    ['JPEG_SHRINK_ON_LOAD', 'sometimes'],
    ['IMAGE_THREAD_NICE', '20'],
    ['IMAGE_THREAD_NICE', '-5'],
    ['IMAGE_THREAD_NICE', 'low'],
    ['UPLOAD_TIMEOUT_MS', '50'],
    ['UPLOAD_TIMEOUT_MS', '2.5s'],
  ])('fails at boot on %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigValidationError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });
});

describe('TRUST_PROXY', () => {
  it('is off by default, and takes true, false or proxy addresses and CIDRs', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });
});

describe('loadConfig: API keys and tenants', () => {
  it('names keys by tenant; unnamed keys share the default tenant; two keys may share a name', () => {
    const config = loadConfig({ API_KEYS: 'alice:a1, bob:b1,legacy,alice:a2' });

    expect([...config.apiKeys]).toEqual([
      ['a1', 'alice'],
      ['b1', 'bob'],
      ['legacy', 'default'],
      ['a2', 'alice'],
    ]);
  });

  it('runs in protected mode without API_KEYS and keeps requests forever without RETENTION_DAYS', () => {
    const config = loadConfig({});

    expect(config.apiKeys.size).toBe(0);
    expect(config.accessMode).toBe('protected');
    expect(config.retentionDays).toBeNull();
  });

  it('serves everyone without keys only when PROTECTED_MODE=off; with keys, keys decide', () => {
    expect(loadConfig({ PROTECTED_MODE: 'off' }).accessMode).toBe('open');
    expect(loadConfig({ PROTECTED_MODE: 'on' }).accessMode).toBe('protected');
    expect(loadConfig({ API_KEYS: 'alice:a1', PROTECTED_MODE: 'off' }).accessMode).toBe('keys');
    expect(() => loadConfig({ PROTECTED_MODE: 'maybe' })).toThrow(/PROTECTED_MODE/);
  });

  it('has a limit of its own for uploads and for the other writes', () => {
    expect(loadConfig({}).rateLimits).toEqual({ requests: 1200, uploads: 300, writes: 300 });
    expect(loadConfig({ WRITE_RATE_LIMIT_PER_MINUTE: '5' }).rateLimits.writes).toBe(5);
  });

  it('reads RETENTION_DAYS', () => {
    expect(loadConfig({ RETENTION_DAYS: '30' }).retentionDays).toBe(30);
  });

  it.each([
    ['API_KEYS', 'al ice:k1'],
    ['API_KEYS', 'alice:'],
    ['API_KEYS', 'alice:k1,bob:k1'],
    ['RETENTION_DAYS', '0'],
    ['RETENTION_DAYS', '7d'],
  ])('fails at boot on %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigValidationError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });
});

it('names a bad API_KEYS without printing the keys', () => {
  expect(() => loadConfig({ API_KEYS: 'alice:secret-one,bob:secret-one' })).toThrow(/API_KEYS=\(hidden\)/);
  expect(() => loadConfig({ API_KEYS: 'alice:secret-one,bob:secret-one' })).not.toThrow(/secret-one/);
});

describe('loadConfig: scheduling settings', () => {
  it('defaults to chunks of 16, a 1 s dispatch tick, 8 fetches per host and pauses of at most 5 minutes', () => {
    const config = loadConfig({});

    expect(config.chunkSize).toBe(16);
    expect(config.dispatchIntervalMs).toBe(1000);
    expect(config.sourceHostConcurrency).toBe(8);
    expect(config.sourceHostMaxPauseMs).toBe(300_000);
  });

  it('names the deployment by queue prefix and Redis database', () => {
    expect(loadConfig({}).deployment).toBe('pixbatch/0');
    expect(loadConfig({ QUEUE_PREFIX: 'shop', REDIS_URL: 'redis://cache:6380/3' }).deployment).toBe('shop/3');
  });

  it.each([
    ['CHUNK_SIZE', '0'],
    ['CHUNK_SIZE', '101'],
    ['DISPATCH_INTERVAL_MS', '10'],
    ['SOURCE_HOST_CONCURRENCY', '0'],
    ['SOURCE_HOST_CONCURRENCY', 'many'],
    ['SOURCE_HOST_MAX_PAUSE_MS', '500'],
  ])('fails at boot on %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });
});
