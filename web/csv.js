// CSV as RFC 4180 writes it: fields in double quotes may hold commas, line breaks and doubled quotes; records end
// with CRLF or LF. The rejected-rows report quotes its messages, so splitting lines on commas would misread them.

/** Parses CSV text into records (arrays of strings). A trailing line break does not make an empty record. */
export function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endField = () => {
    record.push(field);
    field = "";
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      endField();
    } else if (c === "\n") {
      endRecord();
    } else if (c === "\r") {
      if (text[i + 1] === "\n") i++;
      endRecord();
    } else {
      field += c;
    }
  }
  if (field !== "" || record.length > 0) endRecord();
  return records;
}

/** Records with a header line as objects keyed by the header's names. */
export function parseCsvWithHeader(text) {
  const [header = [], ...rows] = parseCsv(text);
  return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] ?? ""])));
}
