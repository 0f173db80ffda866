// CSV as RFC 4180 writes it: fields in double quotes may hold commas, line breaks and doubled quotes; records end
// with CRLF or LF. The rejected-rows report quotes its messages, so splitting lines on commas would misread them.

/**
 * Reads CSV text that arrives in pieces (a response's stream): `push` takes the next piece and answers the records
 * it completed, `end` the last one. A piece may end anywhere, inside a quoted field, between a quote and its double
 * or between CR and LF: the reader keeps that state, so the records are those of the whole text read at once.
 */
export class CsvReader {
  #record = [];
  #field = "";
  #quoted = false;
  /** The last character closed a quoted field: a quote next is a doubled quote inside it. */
  #closed = false;
  /** The last character was a CR: an LF next belongs to the same line break. */
  #cr = false;
  #started = false;

  push(text) {
    const records = [];
    let i = 0;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    for (; i < text.length; i++) {
      const c = text[i];
      const afterCr = this.#cr;
      this.#cr = false;
      if (this.#quoted) {
        if (c === '"') {
          this.#quoted = false;
          this.#closed = true;
        } else {
          this.#field += c;
        }
        continue;
      }
      const closed = this.#closed;
      this.#closed = false;
      if (c === '"') {
        if (closed) this.#field += '"';
        this.#quoted = true;
      } else if (c === ",") {
        this.#endField();
      } else if (c === "\n") {
        if (!afterCr) records.push(this.#endRecord());
      } else if (c === "\r") {
        this.#cr = true;
        records.push(this.#endRecord());
      } else {
        this.#field += c;
      }
    }
    return records;
  }

  /** The last record, when the text does not end with a line break; a trailing line break makes no empty record. */
  end() {
    return this.#field !== "" || this.#record.length > 0 || this.#closed ? [this.#endRecord()] : [];
  }

  #endField() {
    this.#record.push(this.#field);
    this.#field = "";
  }

  #endRecord() {
    this.#endField();
    const record = this.#record;
    this.#record = [];
    this.#closed = false;
    return record;
  }
}

/** Parses CSV text into records (arrays of strings). A trailing line break does not make an empty record. */
export function parseCsv(text) {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}

/** A record as an object keyed by the header's names. */
export function recordOf(header, record) {
  return Object.fromEntries(header.map((name, i) => [name, record[i] ?? ""]));
}

/** Records with a header line as objects keyed by the header's names. */
export function parseCsvWithHeader(text) {
  const [header = [], ...rows] = parseCsv(text);
  return rows.map((row) => recordOf(header, row));
}
