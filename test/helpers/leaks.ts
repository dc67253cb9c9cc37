/** Every byte string the marker could be stored or logged as. */
export function encodingsOf(marker: string): Buffer[] {
  const utf8 = Buffer.from(marker, "utf8");
  const needles = [utf8, Buffer.from(marker, "utf16le")];
  // base64 of the marker inside a longer text depends on where it starts modulo 3; for each
  // start, the characters that encode whole 3-byte groups of the marker alone are fixed.
  for (let skip = 0; skip < 3; skip++) {
    const whole = utf8.subarray(skip, skip + Math.floor((utf8.length - skip) / 3) * 3);
    needles.push(Buffer.from(whole.toString("base64")), Buffer.from(whole.toString("base64url")));
  }
  // A Buffer in a JSON log line ({"type":"Buffer","data":[...]}) and in hex.
  needles.push(Buffer.from([...utf8].join(",")), Buffer.from(utf8.toString("hex")));
  return needles;
}

export const containsAny = (haystack: Buffer, needles: Buffer[]): boolean => needles.some((n) => haystack.includes(n));
