//! The job's root filesystem: the entries the inner bubblewrap mounts read-only on its
//! fresh (tmpfs) root — the platform base (the host's /usr and the few /etc entries it
//! needs) or an application's image, entry by entry, so that the sandbox's own mount points
//! (`/job`, `/medgrid`, `/tmp`…) never have to exist in the image.

use std::path::Path;

use crate::images::Image;

/// Host files of /etc that programs under /usr expect (dynamic linker cache, Debian's
/// alternatives, Python's and Open MPI's settings, certificates); nothing else of /etc.
const HOST_ETC: [&str; 11] = [
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "mime.types",
    "openmpi",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
];

/// Top-level entries of an image the sandbox makes itself.
const OWN_TOP: [&str; 8] = ["proc", "dev", "sys", "tmp", "run", "job", "medgrid", "etc"];

/// Files of /etc the sandbox writes itself.
pub(super) const OWN_ETC: [&str; 5] = ["passwd", "group", "hosts", "nsswitch.conf", "resolv.conf"];

enum Entry {
    /// A symbolic link, made again with the same target.
    Link(String),
    /// A directory or file, bound read-only.
    Bind,
}

pub(super) struct Root {
    /// Where the entries are in the outer namespace: the host's own paths, or the image's
    /// root filesystem at `/sandbox/root`.
    source: &'static str,
    top: Vec<(String, Entry)>,
    etc: Vec<(String, Entry)>,
}

fn entry(path: &Path) -> Option<Entry> {
    match std::fs::read_link(path) {
        Ok(target) => Some(Entry::Link(target.display().to_string())),
        Err(_) if path.exists() => Some(Entry::Bind),
        Err(_) => None,
    }
}

/// Every entry of `dir` but those named in `skip`, sorted (the same arguments every time).
fn entries(dir: &Path, skip: &[&str]) -> Vec<(String, Entry)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !skip.contains(&name.as_str()))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| Some((name.clone(), entry(&dir.join(&name))?)))
        .collect()
}

impl Root {
    /// The platform base: this host's /usr, the links or directories around it, and the
    /// /etc entries programs under /usr need.
    pub(super) fn host() -> Self {
        let top = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), entry(&Path::new("/").join(name))?)))
            .collect();
        let python = std::fs::read_dir("/etc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("python3"));
        let etc = HOST_ETC
            .iter()
            .map(|s| (*s).to_owned())
            .chain(python)
            .filter_map(|name| Some((name.clone(), entry(&Path::new("/etc").join(&name))?)))
            .collect();
        Self {
            source: "",
            top,
            etc,
        }
    }

    /// An application's image: all of it, but what the sandbox provides itself.
    pub(super) fn image(image: &Image) -> Self {
        Self {
            source: "/sandbox/root",
            top: entries(&image.rootfs, &OWN_TOP),
            etc: entries(&image.rootfs.join("etc"), &OWN_ETC),
        }
    }

    /// The top-level entries only (the outer bubblewrap's own programs, from the host).
    pub(super) fn mount_top(&self, args: &mut Vec<String>) {
        for (name, entry) in &self.top {
            mount_entry(args, self.source, "", name, entry);
        }
    }

    /// The inner bubblewrap's arguments mounting this root.
    pub(super) fn mount(&self, args: &mut Vec<String>) {
        self.mount_top(args);
        super::argv::push(args, &["--dir", "/etc"]);

        for (name, entry) in &self.etc {
            mount_entry(args, self.source, "/etc", name, entry);
        }
    }
}

fn mount_entry(args: &mut Vec<String>, source: &str, dir: &str, name: &str, entry: &Entry) {
    let at = format!("{dir}/{name}");
    match entry {
        Entry::Link(target) => super::argv::push(args, &["--symlink", target, &at]),
        Entry::Bind => super::argv::push(args, &["--ro-bind", &format!("{source}{at}"), &at]),
    }
}

/// The image's `passwd` or `group` with the job's own user or group (1000, `medgrid`) added
/// unless it names 1000 already; the platform's own when the image has none.
pub(super) fn with_job_user(image: Option<&Image>, file: &str, own: &str, line: &str) -> String {
    let Some(image) = image else {
        return own.to_owned();
    };
    let path = image.rootfs.join("etc").join(file);
    // a link could point anywhere on this host: only a regular file of the image is read
    let theirs = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() && m.len() < 1 << 20 => {
            std::fs::read_to_string(&path).unwrap_or_default()
        }
        _ => return own.to_owned(),
    };
    let has_1000 = theirs.lines().any(|l| l.split(':').nth(2) == Some("1000"));
    let mut text = theirs.trim_end().to_owned();
    if !has_1000 {
        text.push('\n');
        text.push_str(line);
    }
    text.push('\n');
    text
}
