//! The CSV torture corpus: the csv-spectrum cases (npm package, installed by scripts/test) and files of our own with
//! documented outcomes (`expected.json`). Every file is streamed from the local S3 API; none may crash or hang.

mod own;
mod spectrum;
