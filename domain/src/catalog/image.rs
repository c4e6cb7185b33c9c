//! Container images of applications: Boutiques' `container-image` and OCI image references
//! (`[registry/]repository[:tag][@digest]`), normalised as Docker does: no registry means
//! `docker.io`, a one-part repository there means `library/…`, no tag and no digest means
//! `:latest`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A descriptor's `container-image` (the fields Medgrid reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ContainerImage {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub image: Option<String>,
    /// The registry, when `image` names none (e.g. `docker.io`, `quay.io`).
    #[serde(default)]
    pub index: Option<String>,
    /// The image's digest (`sha256:…`): the image pulled must be this one.
    #[serde(default)]
    pub container_hash: Option<String>,
}

/// Why a `container-image` cannot be run here; the field it names is under `container-image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefused {
    pub field: &'static str,
    pub message: String,
}

fn refused(field: &'static str, message: impl Into<String>) -> ImageRefused {
    ImageRefused {
        field,
        message: message.into(),
    }
}

impl ContainerImage {
    /// The OCI image to run: a `docker` image, or a `singularity` one given as an OCI
    /// reference (`docker://…`). Singularity image files (`.sif`, `library://`, `shub://`)
    /// need Apptainer, which Medgrid does not run.
    pub fn reference(&self) -> Result<ImageRef, ImageRefused> {
        let image = self
            .image
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| refused("image", "is required"))?;
        let oci = match self.kind.as_str() {
            "docker" => image,
            "singularity" => image.strip_prefix("docker://").ok_or_else(|| {
                refused(
                    "image",
                    "a Singularity image file (.sif, library://, shub://) cannot run here: \
                     give an OCI image as docker://REFERENCE",
                )
            })?,
            "rootfs" => return Err(refused("type", "rootfs images are not supported")),
            other => {
                return Err(refused(
                    "type",
                    format!("{other:?} is not docker or singularity"),
                ));
            }
        };
        let mut reference = ImageRef::parse(oci).map_err(|why| refused("image", why))?;
        if let Some(index) = &self.index
            && !oci_names_registry(oci)
        {
            reference.registry = normalise_registry(index);
            if reference.registry != "docker.io" {
                reference.repository = oci_repository(oci).to_owned();
            }
        }
        if let Some(hash) = &self.container_hash {
            let digest = hash.trim();
            if !valid_digest(digest) {
                return Err(refused(
                    "container-hash",
                    "must be a digest such as sha256:<64 hex>",
                ));
            }
            if reference.digest.as_deref().is_some_and(|d| d != digest) {
                return Err(refused(
                    "container-hash",
                    "differs from the image's own digest",
                ));
            }
            reference.digest = Some(digest.to_owned());
        }
        Ok(reference)
    }
}

/// A normalised OCI image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`…
    pub registry: String,
    /// `library/ubuntu`, `medgrid/dcm2niix`…
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…`: when given, the image must be this one.
    pub digest: Option<String>,
}

fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether the first part of a reference is a registry (has a dot or a port, or is
/// `localhost`), as Docker decides.
fn oci_names_registry(reference: &str) -> bool {
    reference.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
}

/// The repository part of a reference without a registry, tag or digest.
fn oci_repository(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

fn normalise_registry(registry: &str) -> String {
    let registry = registry.trim().trim_end_matches('/');
    let registry = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    match registry {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        other => other.to_owned(),
    }
}

fn valid_component(c: &str) -> bool {
    // lower-case alphanumerics, separated by one '.', '_', '__' or any number of '-'
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (r, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl ImageRef {
    /// Parses a reference as `docker pull` reads it.
    pub fn parse(reference: &str) -> Result<Self, String> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 512 {
            return Err("is not an image reference".into());
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) if valid_digest(digest) => (name, Some(digest.to_owned())),
            Some(_) => return Err("has a digest that is not sha256:<64 hex>".into()),
            None => (reference, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (name, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(format!("has a tag {tag:?} that is not valid"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if oci_names_registry(name) => (normalise_registry(first), rest),
            _ => ("docker.io".to_owned(), name),
        };
        if !valid_registry(&registry) {
            return Err(format!("names a registry {registry:?} that is not valid"));
        }
        if !repository.split('/').all(valid_component) {
            return Err(format!("has a repository {repository:?} that is not valid"));
        }
        let repository = match (registry.as_str(), repository.contains('/')) {
            ("docker.io", false) => format!("library/{repository}"),
            _ => repository.to_owned(),
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(kind: &str, image: &str) -> ContainerImage {
        ContainerImage {
            kind: kind.into(),
            image: Some(image.into()),
            index: None,
            container_hash: None,
        }
    }

    #[test]
    fn references_are_normalised_as_docker_does() {
        let r = |s: &str| ImageRef::parse(s).map(|r| r.to_string());
        assert_eq!(r("ubuntu"), Ok("docker.io/library/ubuntu:latest".into()));
        assert_eq!(
            r("medgrid/dcm2niix:1.0"),
            Ok("docker.io/medgrid/dcm2niix:1.0".into())
        );
        assert_eq!(r("quay.io/org/tool:2"), Ok("quay.io/org/tool:2".into()));
        assert_eq!(
            r("127.0.0.1:5000/x/y"),
            Ok("127.0.0.1:5000/x/y:latest".into())
        );
        assert_eq!(r("localhost/x"), Ok("localhost/x:latest".into()));
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            r(&format!("bids/mriqc@{digest}")),
            Ok(format!("docker.io/bids/mriqc@{digest}"))
        );
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "x:bad tag",
            "x@sha256:12",
            "-x",
            "x/",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn singularity_files_and_rootfs_are_refused_oci_references_kept() {
        assert_eq!(
            image("singularity", "docker://bids/mriqc:0.16")
                .reference()
                .map(|r| r.to_string()),
            Ok("docker.io/bids/mriqc:0.16".into())
        );
        for sif in ["/images/tool.sif", "library://x/y/z:1", "shub://x/y"] {
            let e = image("singularity", sif).reference().expect_err("refused");
            assert_eq!(e.field, "image", "{sif}");
        }
        assert_eq!(
            image("rootfs", "x").reference().expect_err("refused").field,
            "type"
        );
        assert_eq!(
            image("docker", "NOT VALID")
                .reference()
                .expect_err("refused")
                .field,
            "image"
        );
    }

    #[test]
    fn index_and_hash_are_taken_into_account() {
        let mut c = image("docker", "org/tool:1");
        c.index = Some("https://quay.io".into());
        assert_eq!(
            c.reference().map(|r| r.to_string()),
            Ok("quay.io/org/tool:1".into())
        );
        c.container_hash = Some(format!("sha256:{}", "b".repeat(64)));
        let r = c.reference().expect("valid");
        assert_eq!(r.digest, Some(format!("sha256:{}", "b".repeat(64))));
        c.container_hash = Some("md5:x".into());
        assert_eq!(c.reference().expect_err("refused").field, "container-hash");
    }
}
