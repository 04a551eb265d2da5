import { readFileSync } from 'node:fs';
import { getMetadataStorage } from 'class-validator';
import { loadConfig } from './app-config.js';
import { EnvironmentVariables } from './env.dto.js';

/** `# NAME=value` (or uncommented) lines of .env.example, in order. */
function exampleSettings(): [string, string][] {
  return readFileSync('.env.example', 'utf8')
    .split('\n')
    .map((line) => /^#? ?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1], match[2]]);
}

/** Every variable the service reads: the properties of the validated environment class. */
function serviceSettings(): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(EnvironmentVariables, '', true, false);
  return [...new Set(metadata.map((entry) => entry.propertyName))];
}

// Read by the CLI, the demo and docker-compose.yml, not by the service.
const OTHER_SETTINGS = [
  'PIXBATCH_URL',
  'PIXBATCH_API_KEY',
  'DEMO_IMAGES_PORT',
  'PIXBATCH_PUBLIC_URL',
  'DEMO_IMAGES_URL',
  'MINIO_ROOT_USER',
  'MINIO_ROOT_PASSWORD',
];

/**
 * .env.example is a copy of what the code decides, so these checks keep the two
 * together: the defaults stay in AppConfig, and the file has to agree with them.
 */
describe('.env.example', () => {
  const settings = exampleSettings();
  const names = settings.map(([name]) => name);

  it('lists every setting the service reads, once, and nothing it does not', () => {
    expect(serviceSettings().length).toBeGreaterThan(40);
    expect(serviceSettings().filter((name) => !names.includes(name))).toEqual([]);
    expect(names.filter((name) => !serviceSettings().includes(name) && !OTHER_SETTINGS.includes(name))).toEqual([]);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
  });

  it('keeps every line commented out, so a copy changes nothing until a line is uncommented', () => {
    const active = readFileSync('.env.example', 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z]/.test(line));
    expect(active).toEqual([]);
  });

  it('writes each service default as the service has it: set to its line, the configuration does not change', () => {
    const service = settings.filter(([name, value]) => serviceSettings().includes(name) && value !== '');
    expect(service.length).toBeGreaterThan(35);
    for (const [name, value] of service) {
      // The S3 settings are read only with that driver.
      const base = name.startsWith('S3_') ? { STORAGE_DRIVER: 's3', S3_BUCKET: 'bucket' } : {};
      expect({ name, config: loadConfig({ ...base, [name]: value }) }).toEqual({ name, config: loadConfig(base) });
    }
  });
});
