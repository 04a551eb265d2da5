import { cyrb53, MAX_WATCHED_URLS, UrlRepeats } from './url-repeats.js';

const url = (n: number) => `https://cdn.example.com/products/${n}/photo.jpg?v=${n % 7}`;

function watch(urls: Iterable<string>): UrlRepeats {
  const repeats = new UrlRepeats();
  for (const each of urls) repeats.add(each);
  return repeats;
}

function* range(count: number): Generator<string> {
  for (let n = 0; n < count; n++) yield url(n);
}

describe('UrlRepeats', () => {
  it('is sure that 300 000 distinct URLs repeat none, through every growth of its table', () => {
    expect(watch(range(300_000)).possible).toBe(false);
  });

  it.each([
    ['the first URL, at the end', [...range(50_000), url(0)]],
    ['neighbours', [url(1), url(2), url(2)]],
    ['a URL right after a growth of the table', [...range(2048), url(2047)]],
  ])('sees a repeat: %s', (_case, urls) => {
    expect(watch(urls).possible).toBe(true);
  });

  it('stays sure of a repeat, whatever follows', () => {
    const repeats = watch([url(1), url(1)]);
    for (const each of range(10)) repeats.add(each);

    expect(repeats.possible).toBe(true);
  });

  it('tells URLs apart that differ in one character, or in case', () => {
    expect(watch(['https://a.example/1.jpg', 'https://a.example/2.jpg', 'https://a.example/1.JPG']).possible).toBe(
      false,
    );
  });

  it('assumes a repeat past the URLs it watches, rather than growing without bound', () => {
    expect(watch(range(MAX_WATCHED_URLS)).possible).toBe(false);
    expect(watch(range(MAX_WATCHED_URLS + 1)).possible).toBe(true);
  });

  it('assumes a repeat when URLs crowd one stretch of the table, rather than walking it for each', () => {
    // URLs whose hashes all start in the same slot of the first table (4 096 slots).
    const crowd: string[] = [];
    for (let n = 0; crowd.length < 257; n++) if (cyrb53(url(n)) % 4096 === 7) crowd.push(url(n));

    expect(watch(crowd.slice(0, 256)).possible).toBe(false);
    expect(watch(crowd).possible).toBe(true);
  });
});

describe('cyrb53', () => {
  it("gives the published hashes (bryc's reference values)", () => {
    expect(cyrb53('a')).toBe(7929297801672961);
    expect(cyrb53('b')).toBe(8684336938537663);
    expect(cyrb53('revenge')).toBe(4051478007546757);
  });

  it('stays within 53 bits', () => {
    for (const each of range(1000)) expect(Number.isSafeInteger(cyrb53(each))).toBe(true);
  });
});
