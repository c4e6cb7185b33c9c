//! Imports in GraphQL: `importFromUrl`, `importFromS3`, `importFromDicomWeb`,
//! `cancelImport`; `imports(first, after)` and `import(id)`.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::ids::NodeId;
use medgrid_domain::ports::StudySearch;
use medgrid_projections::imports::ImportRow;

use crate::space_types::SpaceNode;
use crate::types::{connection, page_request, scope};
use crate::usecases::imports::{self, DicomWebRequest, S3Request};
use crate::usecases::spaces;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ImportState {
    Requested,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ImportKind {
    Url,
    S3,
    DicomWeb,
}

/// Where the files come from, as it may be shown (no secret, no patient UID).
#[derive(SimpleObject)]
pub struct ImportSourceView {
    kind: ImportKind,
    display: String,
}

/// An import of files into a folder.
pub struct Import(pub ImportRow);

#[allow(clippy::cast_precision_loss)]
fn float(n: i64) -> f64 {
    n as f64
}

#[Object]
impl Import {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn state(&self) -> ImportState {
        match self.0.state.as_str() {
            "REQUESTED" => ImportState::Requested,
            "RUNNING" => ImportState::Running,
            "SUCCEEDED" => ImportState::Succeeded,
            "FAILED" => ImportState::Failed,
            _ => ImportState::Cancelled,
        }
    }

    async fn source(&self) -> ImportSourceView {
        let kind = match self.0.kind.as_str() {
            "S3" => ImportKind::S3,
            "DICOMWEB" => ImportKind::DicomWeb,
            _ => ImportKind::Url,
        };
        ImportSourceView {
            kind,
            display: self.0.display.clone(),
        }
    }

    /// Files imported so far.
    async fn files(&self) -> f64 {
        float(self.0.files)
    }

    /// Bytes imported so far, those of the file under way included (a Float: more than
    /// GraphQL's 32-bit Int).
    async fn bytes(&self) -> f64 {
        float(self.0.bytes)
    }

    /// Files the whole import brings, once the importer knows (null before, and for a
    /// DICOMweb study).
    async fn expected_files(&self) -> Option<f64> {
        self.0.expected_files.map(float)
    }

    /// Bytes the whole import brings, once the importer knows.
    async fn expected_bytes(&self) -> Option<f64> {
        self.0.expected_bytes.map(float)
    }

    /// What happened last: why it failed, was cancelled, or what it brought.
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The folder the files go into (None when the caller may no longer see it).
    async fn folder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SpaceNode>> {
        let scope = scope(ctx)?;
        match spaces::locate(&scope, NodeId::from_uuid(self.0.folder_id)).await {
            Ok(at) => Ok(Some(SpaceNode(at))),
            Err(e) if e.code == medgrid_domain::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    /// The caller's imports, newest first (a tenant administrator's: all of the tenant's).
    async fn imports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Import>> {
        let scope = scope(ctx)?;
        let request = page_request(first, after)?;
        let page = imports::list(&scope, request).await?;
        Ok(connection(page, request, |r| r.position, Import))
    }

    async fn import(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Import> {
        Ok(Import(imports::visible(&scope(ctx)?, &id).await?))
    }

    /// Studies a hospital's DICOMweb server lists (QIDO-RS), to pick one for
    /// `importFromDicomWeb`. The server's address is checked like an import's; patient
    /// attributes are not returned, and nothing of the search is kept.
    async fn dicom_web_studies(
        &self,
        ctx: &Context<'_>,
        input: DicomWebSearchInput,
    ) -> async_graphql::Result<Vec<DicomWebStudy>> {
        let search = StudySearch {
            base_url: input.url,
            patient_id: input.patient_id,
            accession_number: input.accession_number,
            study_date: input.study_date,
            modality: input.modality,
            limit: input.limit.unwrap_or(50),
            bearer_token: input.bearer_token,
            basic: input.username.zip(input.password),
        };
        let found = imports::search_studies(&scope(ctx)?, search).await?;
        Ok(found
            .into_iter()
            .map(|s| DicomWebStudy {
                study_instance_uid: s.study_instance_uid,
                study_date: s.study_date,
                modalities: s.modalities,
                description: s.description,
                series: s.series,
                instances: s.instances,
            })
            .collect())
    }
}

/// What to look for on a DICOMweb server (all optional but the URL; credentials are used
/// for this request only).
#[derive(InputObject)]
pub struct DicomWebSearchInput {
    /// The DICOMweb root, e.g. `https://pacs.example.org/dicom-web`.
    url: String,
    patient_id: Option<String>,
    accession_number: Option<String>,
    /// A date or range as QIDO-RS takes it: `20260101` or `20260101-20260131`.
    study_date: Option<String>,
    modality: Option<String>,
    /// At most this many studies (1–200; 50 when not given).
    limit: Option<u32>,
    bearer_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// A study found on a DICOMweb server.
#[derive(SimpleObject)]
pub struct DicomWebStudy {
    study_instance_uid: String,
    study_date: Option<String>,
    modalities: Vec<String>,
    description: Option<String>,
    series: Option<u32>,
    instances: Option<u32>,
}

#[derive(InputObject)]
pub struct ImportFromS3Input {
    /// The S3-compatible server, e.g. `https://s3.example.org`.
    endpoint: String,
    /// `us-east-1` when left out.
    region: Option<String>,
    bucket: String,
    /// Every object whose key starts with this; its folders (`/` in keys) are kept.
    prefix: Option<String>,
    access_key_id: String,
    /// Sealed while the import runs, removed when it ends; never shown.
    secret_access_key: String,
}

#[derive(InputObject)]
pub struct ImportFromDicomWebInput {
    /// The DICOMweb root, e.g. `https://pacs.example.org/dicom-web`.
    url: String,
    study_instance_uid: String,
    /// One series of the study; the whole study when left out.
    series_instance_uid: Option<String>,
    bearer_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports one file from an http(s) URL into the folder.
    async fn import_from_url(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        url: String,
    ) -> async_graphql::Result<Import> {
        Ok(Import(
            imports::from_url(&scope(ctx)?, &folder_id, &url).await?,
        ))
    }

    /// Imports every object under a prefix of an S3 bucket into the folder.
    async fn import_from_s3(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        input: ImportFromS3Input,
    ) -> async_graphql::Result<Import> {
        let request = S3Request {
            endpoint: &input.endpoint,
            region: input.region.as_deref(),
            bucket: &input.bucket,
            prefix: input.prefix.as_deref(),
            access_key_id: &input.access_key_id,
            secret_access_key: &input.secret_access_key,
        };
        Ok(Import(
            imports::from_s3(&scope(ctx)?, &folder_id, request).await?,
        ))
    }

    /// Imports a study (or one series) from a DICOMweb server, de-identified (DICOM
    /// PS3.15 basic profile) before anything is stored.
    async fn import_from_dicom_web(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        input: ImportFromDicomWebInput,
    ) -> async_graphql::Result<Import> {
        let request = DicomWebRequest {
            url: &input.url,
            study_instance_uid: &input.study_instance_uid,
            series_instance_uid: input.series_instance_uid.as_deref(),
            bearer_token: input.bearer_token.as_deref(),
            username: input.username.as_deref(),
            password: input.password.as_deref(),
        };
        Ok(Import(
            imports::from_dicomweb(&scope(ctx)?, &folder_id, request).await?,
        ))
    }

    /// Stops an import that has not finished (its owner or a tenant administrator);
    /// what it imported stays.
    async fn cancel_import(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Import> {
        Ok(Import(imports::cancel(&scope(ctx)?, &id).await?))
    }
}
