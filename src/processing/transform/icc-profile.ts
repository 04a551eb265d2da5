/**
 * True when an ICC profile's tag table lists `signature` (four characters, such
 * as 'A2B1'). False for data too short to hold the table it declares.
 */
export function iccHasTag(icc: Buffer, signature: string): boolean {
  // A 128-byte header, then the tag count and 12 bytes per tag: signature, offset, size.
  if (icc.length < 132) return false;
  const count = icc.readUInt32BE(128);
  for (let i = 0, at = 132; i < count && at + 12 <= icc.length; i++, at += 12) {
    if (icc.toString('latin1', at, at + 4) === signature) return true;
  }
  return false;
}
