import { ConfigValidationError, loadConfig } from './app-config.js';

describe('loadConfig: storage settings', () => {
  it('keeps the local driver by default and ignores S3 settings it does not use', () => {
    const config = loadConfig({ S3_ENDPOINT: 'not a url', S3_FORCE_PATH_STYLE: 'maybe' });

    expect(config.storageDriver).toBe('local');
    expect(config.s3).toBeNull();
    expect(config.storagePublicBaseUrl).toBeNull();
  });

  it('reads the S3 settings, with us-east-1, virtual-host style and no prefix by default', () => {
    expect(loadConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'photos' }).s3).toEqual({
      bucket: 'photos',
      endpoint: undefined,
      region: 'us-east-1',
      credentials: undefined,
      forcePathStyle: false,
      prefix: '',
    });
    expect(
      loadConfig({
        STORAGE_DRIVER: 's3',
        S3_BUCKET: 'photos',
        S3_ENDPOINT: 'http://minio:9000',
        S3_REGION: 'eu-west-3',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
        S3_FORCE_PATH_STYLE: 'true',
        S3_PREFIX: 'pixbatch',
        STORAGE_PUBLIC_BASE_URL: 'https://cdn.example.com/out/',
      }),
    ).toMatchObject({
      s3: {
        endpoint: 'http://minio:9000',
        region: 'eu-west-3',
        credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
        forcePathStyle: true,
        prefix: 'pixbatch/',
      },
      storagePublicBaseUrl: 'https://cdn.example.com/out',
    });
  });

  it.each([
    [{ STORAGE_DRIVER: 'ftp' }, 'STORAGE_DRIVER'],
    [{ STORAGE_DRIVER: 's3' }, 'S3_BUCKET'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'minio:9000' }, 'S3_ENDPOINT'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'id' }, 'S3_SECRET_ACCESS_KEY'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_SECRET_ACCESS_KEY: 'secret' }, 'S3_ACCESS_KEY_ID'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'maybe' }, 'S3_FORCE_PATH_STYLE'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_PREFIX: '/abs' }, 'S3_PREFIX'],
    [{ STORAGE_PUBLIC_BASE_URL: 'cdn.example.com' }, 'STORAGE_PUBLIC_BASE_URL'],
  ])('fails at boot on %o, naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigValidationError);
    expect(() => loadConfig(env)).toThrow(new RegExp(name));
  });
});
