//! Embeds every file under the workspace's `web/` into the function: writes `$OUT_DIR/page_files.rs`, a list of
//! `PageFile { path, bytes: include_bytes!(…) }` sorted by path. Cargo reruns this when anything under `web/`
//! changes (a directory given to rerun-if-changed is scanned whole), so files added or removed are picked up too.
//! A missing `web/` embeds nothing; the function then refuses to publish (no index.html) with a clear reason.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    if web.is_dir() {
        collect(&web, &web, &mut files);
    }
    files.sort();
    let mut out = String::from("&[\n");
    for (relative, absolute) in files {
        out.push_str(&format!(
            "    shared::page::PageFile {{ path: {relative:?}, bytes: include_bytes!({:?}) }},\n",
            absolute.display().to_string()
        ));
    }
    out.push_str("]\n");
    let target = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("page_files.rs");
    fs::write(target, out).expect("write page_files.rs");
}

/// Regular files only, hidden ones (editor and OS droppings such as .DS_Store) left out; paths `/`-separated.
fn collect(root: &Path, dir: &Path, into: &mut Vec<(String, PathBuf)>) {
    let entries = fs::read_dir(dir).expect("read web/");
    for entry in entries {
        let path = entry.expect("a web/ entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, into);
        } else if path.is_file() {
            let relative = path.strip_prefix(root).expect("under web/");
            let relative: Vec<_> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            into.push((relative.join("/"), path.canonicalize().expect("a web/ file's path")));
        }
    }
}
