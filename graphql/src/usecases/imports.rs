//! Imports: files brought into a folder from an http(s) URL, an S3 prefix or a DICOMweb
//! server, by the worker's importer. Asking needs the right to write in the folder; the
//! URL is checked by the SSRF guard now (a refusal records nothing) and again by the
//! importer before it connects. Only the member who asked, and the tenant's
//! administrators, see an import or cancel it; to anyone else it does not exist.

use medgrid_domain::Code;
use medgrid_domain::actor::Actor;
use medgrid_domain::ids::{ImportId, MemberId, NodeId, SpaceId, TenantId};
use medgrid_domain::imports::{
    DicomWebAuthKind, ImportCommand, ImportSource, NewImport, SealedRequest,
};
use medgrid_domain::ports::{StudyFound, StudySearch};
use medgrid_projections::imports::{self, ImportRow};
use medgrid_projections::page::{Page, PageRequest};
use rand::RngCore;

use super::spaces::writable_folder;
use super::{Scope, parse_id};
use crate::ApiError;

/// The longest URL, bucket, prefix… accepted.
const MAX_FIELD: usize = 2048;

fn actor<'a>(scope: &'a Scope<'_>) -> Result<&'a Actor, ApiError> {
    scope
        .caller
        .actor()
        .ok_or_else(|| ApiError::unauthenticated("imports belong to members: sign in"))
}

fn field<'a>(value: &'a str, what: &str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{what}: 1 to {MAX_FIELD} characters, no control characters"
        )));
    }
    Ok(value)
}

/// A URL as it may be shown and kept forever: without its query and fragment.
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

async fn guard(scope: &Scope<'_>, url: &str, what: &str) -> Result<(), ApiError> {
    scope
        .svc
        .outbound
        .check_url(url)
        .await
        .map_err(|refused| ApiError::invalid(format!("{what}: {refused}")))
}

/// Searches a hospital's DICOMweb server for studies (members only; the guard checks the
/// address, as for an import).
pub async fn search_studies(
    scope: &Scope<'_>,
    search: StudySearch,
) -> Result<Vec<StudyFound>, ApiError> {
    actor(scope)?;
    scope
        .svc
        .dicom
        .search_studies(search)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// Records the request: the sealed part first (keyed by the new import), then the event.
async fn request(
    scope: &Scope<'_>,
    folder: &str,
    source: ImportSource,
    sealed: SealedRequest,
) -> Result<ImportRow, ApiError> {
    let actor = actor(scope)?;
    let folder = writable_folder(scope, folder).await?;
    let tenant = TenantId::from_uuid(folder.space.tenant_id);
    let id = ImportId::random();
    let fingerprint = scope
        .svc
        .sealed
        .put(tenant, id.as_uuid(), &sealed.to_sealed())
        .await?;
    let new = NewImport {
        tenant_id: tenant,
        owner: actor.member_id,
        space_id: SpaceId::from_uuid(folder.space.id),
        folder: NodeId::from_uuid(folder.node.id),
        source,
        request_fingerprint: fingerprint,
    };
    let recorded = scope
        .svc
        .bus
        .import(id, ImportCommand::Request(new), &scope.metadata(tenant))
        .await;
    if let Err(e) = recorded {
        let _ = scope.svc.sealed.remove(id.as_uuid()).await;
        return Err(e.into());
    }
    imports::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::new(Code::Internal, "the import is not readable yet; retry"))
}

/// One file from an http(s) URL.
pub async fn from_url(scope: &Scope<'_>, folder: &str, url: &str) -> Result<ImportRow, ApiError> {
    let url = field(url, "url")?;
    guard(scope, url, "url").await?;
    let source = ImportSource::Url {
        url: without_query(url),
    };
    let sealed = SealedRequest::Url {
        url: url.to_owned(),
    };
    request(scope, folder, source, sealed).await
}

/// Where and how to read an S3 prefix.
pub struct S3Request<'a> {
    pub endpoint: &'a str,
    pub region: Option<&'a str>,
    pub bucket: &'a str,
    pub prefix: Option<&'a str>,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// Every object under a prefix of an S3 bucket, keeping its folders.
pub async fn from_s3(
    scope: &Scope<'_>,
    folder: &str,
    s3: S3Request<'_>,
) -> Result<ImportRow, ApiError> {
    let endpoint = field(s3.endpoint, "endpoint")?;
    guard(scope, endpoint, "endpoint").await?;
    let region = s3
        .region
        .map(|r| field(r, "region"))
        .transpose()?
        .unwrap_or("us-east-1");
    let prefix = s3.prefix.map(str::trim).unwrap_or_default();
    if prefix.len() > MAX_FIELD || prefix.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "prefix: too long or with control characters",
        ));
    }
    let source = ImportSource::S3 {
        endpoint: without_query(endpoint),
        region: region.to_owned(),
        bucket: field(s3.bucket, "bucket")?.to_owned(),
        prefix: prefix.to_owned(),
        access_key_id: field(s3.access_key_id, "accessKeyId")?.to_owned(),
    };
    let sealed = SealedRequest::S3 {
        secret_access_key: field(s3.secret_access_key, "secretAccessKey")?.to_owned(),
    };
    request(scope, folder, source, sealed).await
}

/// A study (or one of its series) on a DICOMweb server, and how to sign in to it.
pub struct DicomWebRequest<'a> {
    pub url: &'a str,
    pub study_instance_uid: &'a str,
    pub series_instance_uid: Option<&'a str>,
    pub bearer_token: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
}

fn uid(value: &str, what: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !value.starts_with('.')
        && !value.ends_with('.')
        && !value.contains("..");
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid(format!(
            "{what}: a DICOM UID (digits and dots, at most 64 characters)"
        )))
    }
}

/// A study or series, de-identified on the way (PS3.15 basic profile).
pub async fn from_dicomweb(
    scope: &Scope<'_>,
    folder: &str,
    dw: DicomWebRequest<'_>,
) -> Result<ImportRow, ApiError> {
    let url = field(dw.url, "url")?;
    if url.contains(['?', '#']) {
        return Err(ApiError::invalid(
            "url: the DICOMweb root, without a query (e.g. https://pacs.example.org/dicom-web)",
        ));
    }
    guard(scope, url, "url").await?;
    let study = uid(dw.study_instance_uid, "studyInstanceUid")?;
    let series = dw
        .series_instance_uid
        .filter(|s| !s.trim().is_empty())
        .map(|s| uid(s, "seriesInstanceUid"))
        .transpose()?;
    let nonempty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_owned);
    let (bearer, username, password) = (
        nonempty(dw.bearer_token),
        nonempty(dw.username),
        nonempty(dw.password),
    );
    let auth = match (&bearer, &username, &password) {
        (None, None, None) => DicomWebAuthKind::None,
        (Some(_), None, None) => DicomWebAuthKind::Bearer,
        (None, Some(user), Some(_)) => DicomWebAuthKind::Basic {
            username: field(user, "username")?.to_owned(),
        },
        _ => {
            return Err(ApiError::invalid(
                "give a bearerToken, or a username with a password, or neither",
            ));
        }
    };
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let source = ImportSource::DicomWeb {
        base_url: url.trim_end_matches('/').to_owned(),
        auth,
    };
    let sealed = SealedRequest::DicomWeb {
        study_instance_uid: study,
        series_instance_uid: series,
        bearer_token: bearer,
        password,
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
    };
    request(scope, folder, source, sealed).await
}

fn may_see(actor: &Actor, row: &ImportRow) -> bool {
    row.owner_id == actor.member_id.as_uuid()
        || actor.can_administer(TenantId::from_uuid(row.tenant_id))
}

/// An import the caller may see: their own, or any of their tenant's for its admins.
pub async fn visible(scope: &Scope<'_>, raw: &str) -> Result<ImportRow, ApiError> {
    let actor = actor(scope)?;
    let id: ImportId = parse_id(raw, "import")?;
    imports::by_id(&scope.reader(), id)
        .await?
        .filter(|row| may_see(actor, row))
        .ok_or_else(|| ApiError::not_found("import"))
}

/// The caller's imports (all of the tenant's for its administrators), newest first.
pub async fn list(scope: &Scope<'_>, page: PageRequest) -> Result<Page<ImportRow>, ApiError> {
    let actor = actor(scope)?;
    let owner: Option<MemberId> =
        (!actor.can_administer(actor.tenant_id)).then_some(actor.member_id);
    Ok(imports::list(&scope.reader(), actor.tenant_id, owner, page).await?)
}

/// Stops an import that has not finished; what it imported stays.
pub async fn cancel(scope: &Scope<'_>, raw: &str) -> Result<ImportRow, ApiError> {
    let row = visible(scope, raw).await?;
    let id = ImportId::from_uuid(row.id);
    let tenant = TenantId::from_uuid(row.tenant_id);
    let cancel = ImportCommand::Cancel {
        reason: "Cancelled; the files imported before stay in the folder".into(),
    };
    scope
        .svc
        .bus
        .import(id, cancel, &scope.metadata(tenant))
        .await?;
    // the importer removes the sealed request when it sees the cancel; a request nobody
    // took up yet goes now
    let _ = scope.svc.sealed.remove(id.as_uuid()).await;
    imports::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("import"))
}
