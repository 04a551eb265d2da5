import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageDriver } from './local-storage.driver.js';

describe('LocalStorageDriver.putFile', () => {
  let root: string;
  let storage: LocalStorageDriver;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pixbatch-storage-'));
    storage = new LocalStorageDriver(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores what the writer wrote under the key, from a path that keeps the extension', async () => {
    let given = '';
    const result = await storage.putFile('images/r/1.webp', async (path) => {
      given = path;
      await writeFile(path, 'pixels');
      return 42;
    });

    expect(result).toBe(42);
    expect(given.endsWith('.webp')).toBe(true);
    expect(given).not.toBe(join(root, 'images', 'r', '1.webp'));
    expect(await readFile(join(root, 'images', 'r', '1.webp'), 'utf8')).toBe('pixels');
    expect(await readdir(join(root, 'images', 'r'))).toEqual(['1.webp']);
  });

  it('replaces an earlier file under the same key', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('first'));
    await storage.put('images/r/1.jpg', Buffer.from('second'));

    expect(await readFile(join(root, 'images', 'r', '1.jpg'), 'utf8')).toBe('second');
    expect(await readdir(join(root, 'images', 'r'))).toEqual(['1.jpg']);
  });

  it('leaves neither the key nor a partial file behind when the writer fails', async () => {
    const failing = storage.putFile('images/r/2.png', async (path) => {
      await writeFile(path, 'half');
      throw new Error('encoder failed');
    });

    await expect(failing).rejects.toThrow('encoder failed');
    expect(await readdir(join(root, 'images', 'r'))).toEqual([]);
    expect(await storage.get('images/r/2.png')).toBeNull();
  });

  it('refuses a key that would leave the storage root', async () => {
    await expect(storage.putFile('../outside.jpg', async () => undefined)).rejects.toThrow('Unsafe storage key');
  });
});
