import { iccHasTag } from './icc-profile.js';

function profile(tags: string[]): Buffer {
  const data = Buffer.alloc(132 + 12 * tags.length);
  data.writeUInt32BE(tags.length, 128);
  tags.forEach((tag, i) => data.write(tag, 132 + 12 * i, 'latin1'));
  return data;
}

describe('iccHasTag', () => {
  it('finds a tag listed in the table', () => {
    expect(iccHasTag(profile(['desc', 'A2B0', 'A2B1']), 'A2B1')).toBe(true);
    expect(iccHasTag(profile(['desc', 'A2B0', 'B2A0']), 'A2B1')).toBe(false);
  });

  it('reads no further than the data, whatever count it declares', () => {
    const truncated = profile(['A2B0', 'A2B1']).subarray(0, 132 + 12);

    expect(iccHasTag(truncated, 'A2B1')).toBe(false);
    expect(iccHasTag(Buffer.alloc(40), 'A2B1')).toBe(false);
  });
});
