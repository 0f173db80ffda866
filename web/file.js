// What the page tells about a file before it is sent: its size and its SHA-256 as S3 checks it
// (x-amz-checksum-sha256: the base64 of the digest). Web Crypto has no streaming digest, so the file is read whole
// into memory: a file over MAX_BROWSER_FILE_BYTES is refused before any of it is read, and a smaller one the browser
// still cannot hold is reported as such.

/**
 * The largest file the page reads for its checksum (1 GiB): above it, reading the whole file into one buffer may
 * exhaust the browser's memory. Larger files go through the import API from a tool that streams the digest.
 */
export const MAX_BROWSER_FILE_BYTES = 1024 ** 3;

/** The base64 of the file's SHA-256. */
export async function sha256Base64(file) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
  let text = "";
  for (const byte of digest) text += String.fromCharCode(byte);
  return btoa(text);
}

const UNITS = ["KB", "MB", "GB"];

/** A size for people: exact bytes, and a rounded unit from 1,000 bytes on (e.g. "2,048 bytes (2.0 KB)"). */
export function formatSize(bytes) {
  const exact = `${bytes.toLocaleString("en")} ${bytes === 1 ? "byte" : "bytes"}`;
  let value = bytes;
  let unit = "";
  for (const next of UNITS) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return unit ? `${exact} (${value.toFixed(1)} ${unit})` : exact;
}
