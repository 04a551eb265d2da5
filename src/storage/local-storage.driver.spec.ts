import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { LocalStorageDriver } from './local-storage.driver.js';

const IMAGE = { contentType: 'image/jpeg' };

describe('LocalStorageDriver', () => {
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
    const result = await storage.writeThrough('images/r/1.webp', IMAGE, async (path) => {
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

  describe('copy', () => {
    it('links the file under the new key: no bytes copied, and either name outlives the other', async () => {
      await storage.put('images/a/1.jpg', Buffer.from('pixels'), IMAGE);

      expect(await storage.copy('images/a/1.jpg', 'images/b/1.jpg')).toBe(true);

      const [from, to] = await Promise.all([stat(join(root, 'images/a/1.jpg')), stat(join(root, 'images/b/1.jpg'))]);
      expect(to.ino).toBe(from.ino);
      await storage.deleteByPrefix('images/a/');
      expect(await readFile(join(root, 'images', 'b', '1.jpg'), 'utf8')).toBe('pixels');
      expect(await readdir(join(root, '.scratch'))).toEqual([]);
    });

    it('replaces what the new key held', async () => {
      await storage.put('images/a/1.jpg', Buffer.from('new'), IMAGE);
      await storage.put('images/b/1.jpg', Buffer.from('old'), IMAGE);

      expect(await storage.copy('images/a/1.jpg', 'images/b/1.jpg')).toBe(true);

      expect(await readFile(join(root, 'images', 'b', '1.jpg'), 'utf8')).toBe('new');
    });

    it('copies the bytes where a link is refused: the source on another file system', async () => {
      // A folder of the storage root that is a symbolic link to tmpfs: linking across devices fails (EXDEV).
      const elsewhere = await mkdtemp(join('/dev/shm', 'pixbatch-storage-'));
      try {
        await mkdir(join(root, 'images'));
        await symlink(elsewhere, join(root, 'images', 'a'));
        await writeFile(join(elsewhere, '1.jpg'), 'pixels');

        expect(await storage.copy('images/a/1.jpg', 'images/b/1.jpg')).toBe(true);

        const [from, to] = await Promise.all([stat(join(elsewhere, '1.jpg')), stat(join(root, 'images/b/1.jpg'))]);
        expect(to.dev).not.toBe(from.dev);
        expect(await readFile(join(root, 'images', 'b', '1.jpg'), 'utf8')).toBe('pixels');
      } finally {
        await rm(elsewhere, { recursive: true, force: true });
      }
    });

    it('copies a key onto itself as a no-op, leaving no scratch file', async () => {
      await storage.put('images/a/1.jpg', Buffer.from('pixels'), IMAGE);

      expect(await storage.copy('images/a/1.jpg', 'images/a/1.jpg')).toBe(true);

      expect(await readFile(join(root, 'images', 'a', '1.jpg'), 'utf8')).toBe('pixels');
      expect(await readdir(join(root, '.scratch'))).toEqual([]);
    });

    it('answers false and stores nothing when the source is gone', async () => {
      expect(await storage.copy('images/a/gone.jpg', 'images/b/1.jpg')).toBe(false);

      expect(await storage.head('images/b/1.jpg')).toBeNull();
      expect(await readdir(join(root, '.scratch'))).toEqual([]);
    });
  });

  it('replaces an earlier file under the same key', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('first'), IMAGE);
    await storage.put('images/r/1.jpg', Buffer.from('second'), IMAGE);

    expect(await readFile(join(root, 'images', 'r', '1.jpg'), 'utf8')).toBe('second');
    expect(await readdir(join(root, 'images', 'r'))).toEqual(['1.jpg']);
  });

  it('leaves neither the key nor a partial file behind when the writer fails', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('other'), IMAGE);
    const failing = storage.writeThrough('images/r/2.png', IMAGE, async (path) => {
      await writeFile(path, 'half');
      throw new Error('encoder failed');
    });

    await expect(failing).rejects.toThrow('encoder failed');
    expect(await readdir(join(root, 'images', 'r'))).toEqual(['1.jpg']);
    expect(await readdir(join(root, '.scratch'))).toEqual([]);
    expect(await storage.get('images/r/2.png')).toBeNull();
  });

  it('makes the scratch folder again after a write found it removed, and a removed key folder at once', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('first'), IMAGE);
    // The scratch folder is created once per driver; someone clears the volume under it.
    await rm(join(root, '.scratch'), { recursive: true });
    await rm(join(root, 'images'), { recursive: true });

    await expect(storage.put('images/r/2.jpg', Buffer.from('lost'), IMAGE)).rejects.toThrow(/ENOENT/);
    await storage.put('images/r/2.jpg', Buffer.from('second'), IMAGE);

    expect(await readFile(join(root, 'images', 'r', '2.jpg'), 'utf8')).toBe('second');
    expect(await readdir(join(root, '.scratch'))).toEqual([]);
  });

  it('refuses a key that would leave the storage root', async () => {
    await expect(storage.writeThrough('../outside.jpg', IMAGE, () => Promise.resolve())).rejects.toThrow(
      'Unsafe storage key',
    );
    expect(await storage.get('../outside.jpg')).toBeNull();
  });

  it('reads a byte range, with the size, type and ETag of the whole object', async () => {
    await storage.put('images/r/1.jpg', Buffer.from('0123456789'), IMAGE);
    const object = await storage.get('images/r/1.jpg', { start: 2, end: 4 });

    expect(object).toMatchObject({ size: 10, contentType: 'image/jpeg' });
    expect(object!.etag).toMatch(/^".+"$/);
    expect(await text(object!.stream)).toBe('234');
    expect(await storage.head('images/r/1.jpg')).toMatchObject({ size: 10, etag: object!.etag });
  });

  it('deletes one key, or every key under a prefix and nothing beside it', async () => {
    await storage.put('images/a/1.jpg', Buffer.from('1'), IMAGE);
    await storage.put('images/a/2.jpg', Buffer.from('2'), IMAGE);
    await storage.put('images/ab/1.jpg', Buffer.from('3'), IMAGE);

    await storage.delete('images/a/1.jpg');
    await storage.delete('images/a/missing.jpg');
    expect(await storage.head('images/a/1.jpg')).toBeNull();
    expect(await storage.deleteByPrefix('images/a/')).toBe(1);
    expect(await storage.head('images/a/2.jpg')).toBeNull();
    expect(await storage.head('images/ab/1.jpg')).not.toBeNull();
    expect(await storage.deleteByPrefix('images/none/')).toBe(0);
  });

  it('is reachable once its folder exists, which the first write makes', async () => {
    const fresh = new LocalStorageDriver(join(root, 'fresh'));
    await expect(fresh.checkReachable()).rejects.toThrow(/ENOENT/);
    await fresh.checkWritable();
    await fresh.checkReachable();
  });
});
