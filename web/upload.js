// The upload of the announced file with the pre-signed request the API handed out. XMLHttpRequest, because fetch
// reports no upload progress. Every header of the signed request is sent as given, except those the browser sets
// itself and forbids scripts to set (content-length, host): it sends the file's exact length, which is signed.

const BROWSER_SET = new Set(["content-length", "host"]);

/** Why an upload did not complete; `network` when no answer came back at all. */
export class UploadError extends Error {
  constructor(message, network = false) {
    super(message);
    this.network = network;
  }
}

/**
 * Sends `file` with `upload` ({ method, url, headers }); `onProgress(loaded, total)` as bytes leave.
 * Resolves when storage answered 2xx.
 */
export function uploadFile(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    for (const [name, value] of Object.entries(upload.headers || {})) {
      if (!BROWSER_SET.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
      } else {
        reject(new UploadError(`The storage service refused the file (HTTP ${xhr.status}${s3Code(xhr)}).`));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new UploadError("The file could not be sent: the storage service could not be reached.", true)),
    );
    xhr.addEventListener("abort", () => reject(new UploadError("The upload was stopped.")));
    xhr.send(file);
  });
}

/** S3's error code from its XML answer (e.g. SignatureDoesNotMatch, BadDigest), when there is one. */
function s3Code(xhr) {
  const match = /<Code>([A-Za-z]+)<\/Code>/.exec(xhr.responseText || "");
  return match ? `, ${match[1]}` : "";
}
