//! The compute resources: what each is, who may use it and whether it is drained.
//! Platform administrators register resources, drain them with a reason and enable them
//! again; tenant administrators see the ones their institution may use, read only (the
//! use cases refuse them the changes, so the page does not offer them).

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::compute::{Access, ResourceCommand, ResourceKind};
use medgrid_domain::ids::{GroupId, TenantId};
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{compute, parse_id};
use medgrid_projections::resources::ResourceRow;
use uuid::Uuid;

use super::{Entered, Input, whole};
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

/// The fields of the register form, as GraphQL's `RegisterResourceInput` names them.
const FIELDS: [&str; 11] = [
    "name",
    "defaultMemoryMb",
    "kind",
    "slots",
    "partition",
    "maxNodes",
    "coresPerNode",
    "walltimeLimitSeconds",
    "maxJobs",
    "tenants",
    "groupIds",
];

/// A resource as its row in the table shows it.
pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub kind: &'static str,
    pub details: String,
    pub access: String,
    pub drained: bool,
    pub drain_reason: Option<String>,
    /// The drain reason typed in a form that came back refused, and why.
    pub reason: String,
    pub error: Option<String>,
}

/// A tenant offered in the access list of the register form.
pub struct TenantChoice {
    pub id: Uuid,
    pub label: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "web/admin_resources.html")]
struct Page<'a> {
    v: &'a Visitor,
    section: &'a str,
    platform: bool,
    rows: Vec<Row>,
    /// The register form: what every resource has (name, default memory per attempt),
    /// what a local resource and a Slurm partition need.
    named: Vec<Input>,
    local: Vec<Input>,
    slurm: Vec<Input>,
    kind: String,
    kind_error: Option<String>,
    all_tenants: bool,
    tenants: Vec<TenantChoice>,
    group_ids: String,
    groups_error: Option<String>,
    tenants_error: Option<String>,
    error: Option<String>,
}

fn details(kind: Option<ResourceKind>) -> (&'static str, String) {
    match kind {
        Some(ResourceKind::Local { slots }) => ("Local", format!("{slots} attempts at once")),
        Some(ResourceKind::Slurm {
            partition,
            max_nodes,
            cores_per_node,
            walltime_limit_seconds,
            max_jobs,
        }) => (
            "Slurm",
            format!(
                "partition {partition} · up to {max_nodes} nodes of {cores_per_node} cores · \
                 {walltime_limit_seconds} s at most · {max_jobs} attempts at the cluster at once"
            ),
        ),
        None => ("Unknown", String::new()),
    }
}

/// Who may use a resource, in words; tenants are named where the visitor may know them.
fn access(row: &ResourceRow, names: &HashMap<Uuid, String>) -> String {
    if row.all_tenants {
        return "every institution".into();
    }
    let mut who: Vec<String> = row
        .tenants
        .iter()
        .map(|t| {
            names
                .get(t)
                .cloned()
                .unwrap_or_else(|| "another institution".into())
        })
        .collect();
    match row.groups.len() {
        0 => {}
        1 => who.push("1 group".into()),
        n => who.push(format!("{n} groups")),
    }
    if who.is_empty() {
        "platform administrators only".into()
    } else {
        who.join(", ")
    }
}

/// The memory an attempt gets there when its application does not say, if the resource
/// sets it (otherwise the installation's default applies, which the page does not repeat).
fn default_memory(row: &ResourceRow) -> Option<String> {
    row.default_memory_mb
        .map(|mb| format!("{mb} MiB of memory per attempt by default"))
}

fn row(r: ResourceRow, names: &HashMap<Uuid, String>) -> Row {
    let (kind, details) = details(serde_json::from_value(r.kind.clone()).ok());
    let details = [Some(details).filter(|d| !d.is_empty()), default_memory(&r)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    Row {
        id: r.id,
        access: access(&r, names),
        name: r.name,
        kind,
        details,
        drained: r.drained,
        drain_reason: r.drain_reason,
        reason: String::new(),
        error: None,
    }
}

/// What a refused form brings back to the page.
#[derive(Default)]
struct Back {
    register: Entered,
    /// The resource whose drain or enable was refused: the reason typed and why.
    refused: Option<(Uuid, String, String)>,
}

/// The inputs of the register form: what every resource has, then what a local resource
/// and what a Slurm partition need.
fn register_inputs(e: &Entered) -> (Vec<Input>, Vec<Input>, Vec<Input>) {
    let f = |name, label| e.input("resource", name, label);
    (
        vec![
            f("name", "Name")
                .required()
                .help("2 to 40 of a-z, 0-9 and '-', starting with a letter; it never changes."),
            f("defaultMemoryMb", "Default memory per attempt (MiB)")
                .kind("number")
                .help(
                    "For jobs whose application does not say how much memory it needs. \
                     Left empty: the installation's default.",
                ),
        ],
        vec![
            f("slots", "Attempts at once")
                .kind("number")
                .help("Processes on the Medgrid host at the same time."),
        ],
        vec![
            f("partition", "Partition"),
            f("maxNodes", "Most nodes an attempt may ask for").kind("number"),
            f("coresPerNode", "Cores per node").kind("number"),
            f("walltimeLimitSeconds", "Time limit (seconds)")
                .kind("number")
                .help("At least 60; 86400 is a day."),
            f("maxJobs", "Attempts at the cluster at once")
                .kind("number")
                .help("Left empty: 200. Slurm queues the rest itself."),
        ],
    )
}

async fn render(v: &Visitor, status: StatusCode, back: Back) -> Response {
    if let Some(refused) = super::refuse_non_admin(v) {
        return refused;
    }
    let scope = v.scope();
    let platform = v.actor.is_platform_admin();
    let found = async {
        let rows = compute::list(&scope).await?;
        let tenants = if platform {
            super::tenants::all(&scope).await?
        } else {
            vec![]
        };
        Ok::<_, ApiError>((rows, tenants))
    }
    .await;
    let (rows, tenants) = match found {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let names: HashMap<Uuid, String> = tenants.iter().map(|t| (t.id, t.name.clone())).collect();
    let mut rows: Vec<Row> = rows.into_iter().map(|r| row(r, &names)).collect();
    if let Some((id, reason, error)) = back.refused
        && let Some(r) = rows.iter_mut().find(|r| r.id == id)
    {
        r.reason = reason;
        r.error = Some(error);
    }
    let e = &back.register;
    let (named, local, slurm) = register_inputs(e);
    let tenants = tenants
        .into_iter()
        .map(|t| TenantChoice {
            checked: e.has(&format!("tenant.{}", t.id)),
            label: format!("{} ({})", t.name, t.slug),
            id: t.id,
        })
        .collect();
    let page = Page {
        v,
        section: "admin",
        platform,
        rows,
        named,
        local,
        slurm,
        kind: e.value("kind"),
        kind_error: e.errors.get("kind").cloned(),
        all_tenants: e.has("allTenants"),
        tenants,
        group_ids: e.value("groupIds"),
        groups_error: e.errors.get("groupIds").cloned(),
        tenants_error: e.errors.get("tenants").cloned(),
        error: e.error.clone(),
    };
    view::page(v, status, &page)
}

/// GET /admin/resources
pub async fn list(v: Visitor) -> Response {
    render(&v, StatusCode::OK, Back::default()).await
}

fn required<T>(value: Option<T>, field: &str, kind: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::invalid(format!("{field}: required for a {kind} resource")).with_field(field)
    })
}

/// The resource kind the form describes.
fn kind(posted: &Posted) -> Result<ResourceKind, ApiError> {
    match posted.get("kind").map(String::as_str) {
        Some("local") => Ok(ResourceKind::Local {
            slots: required(whole(posted, "slots")?, "slots", "local")?,
        }),
        Some("slurm") => {
            let partition = posted.get("partition").map_or("", |p| p.trim());
            let partition = (!partition.is_empty()).then(|| partition.to_owned());
            Ok(ResourceKind::Slurm {
                partition: required(partition, "partition", "Slurm")?,
                max_nodes: required(whole(posted, "maxNodes")?, "maxNodes", "Slurm")?,
                cores_per_node: required(whole(posted, "coresPerNode")?, "coresPerNode", "Slurm")?,
                walltime_limit_seconds: required(
                    whole(posted, "walltimeLimitSeconds")?,
                    "walltimeLimitSeconds",
                    "Slurm",
                )?,
                max_jobs: whole(posted, "maxJobs")?.unwrap_or(ResourceKind::DEFAULT_MAX_JOBS),
            })
        }
        _ => Err(ApiError::invalid("kind: choose local or Slurm").with_field("kind")),
    }
}

/// Who the form lets use the resource: every tenant, the tenants ticked, and the groups
/// listed by id, one a line.
fn access_of(posted: &Posted) -> Result<Access, ApiError> {
    let tenants = posted
        .keys()
        .filter_map(|k| k.strip_prefix("tenant."))
        .map(|id| {
            parse_id::<TenantId>(id, "tenant")
                .map_err(|_| ApiError::invalid("tenants: no such tenant").with_field("tenants"))
        })
        .collect::<Result<_, _>>()?;
    let groups = posted
        .get("groupIds")
        .map_or("", String::as_str)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|id| {
            parse_id::<GroupId>(id, "group").map_err(|_| {
                ApiError::invalid(format!("groupIds: {id:?} is not a group id"))
                    .with_field("groupIds")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Access {
        all_tenants: posted.contains_key("allTenants"),
        tenants,
        groups,
    })
}

async fn register_posted(v: &Visitor, posted: &Posted) -> Result<ResourceRow, ApiError> {
    let name = posted.get("name").map_or("", |n| n.trim());
    let access = access_of(posted)?;
    let default_memory_mb = whole(posted, "defaultMemoryMb")?;
    compute::register(&v.scope(), name, kind(posted)?, access, default_memory_mb)
        .await
        .map_err(|e| match (e.code, e.message.as_str()) {
            // a group or tenant of the access list that is not there is a wrong entry
            (Code::NotFound, "no such group") => {
                ApiError::invalid("groupIds: no such group").with_field("groupIds")
            }
            (Code::NotFound, "no such tenant") => {
                ApiError::invalid("tenants: no such tenant").with_field("tenants")
            }
            (Code::Conflict, _) => e.with_field("name"),
            _ => e,
        })
}

/// POST /admin/resources: registers a resource (platform administrators).
pub async fn register(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match register_posted(&v, &posted).await {
        Ok(r) => see_other(&format!("/admin/resources#resource-{}", r.name), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let back = Back {
                register: Entered::refused(&posted, &e, &FIELDS),
                refused: None,
            };
            render(&v, view::form_status(&e), back).await
        }
    }
}

/// POST /admin/resources/{id}/{drain|enable} (platform administrators).
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let reason = posted.get("reason").cloned().unwrap_or_default();
    let command = match action.as_str() {
        "drain" => ResourceCommand::Drain {
            reason: reason.clone(),
        },
        "enable" => ResourceCommand::Enable,
        _ => return view::failure(&v, &ApiError::not_found("page")),
    };
    match compute::change(&v.scope(), &id, command).await {
        Ok(r) => see_other(&format!("/admin/resources#resource-{}", r.name), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let message = e.message.strip_prefix("reason: ").unwrap_or(&e.message);
            let refused = id.parse().ok().map(|id| (id, reason, message.to_owned()));
            let back = Back {
                register: Entered::default(),
                refused,
            };
            render(&v, view::form_status(&e), back).await
        }
    }
}
