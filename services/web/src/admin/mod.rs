//! Administration pages for tenant administrators (and platform administrators): members,
//! groups, the audit log, the accounting dashboard, the compute resources, the tenant's
//! applications and identity providers, and (platform administrators) the tenants. Every
//! figure and change goes through the same use cases as GraphQL, which refuse who may not.

pub mod accounting;
pub mod applications;
pub mod audit;
pub(crate) mod chart;
pub mod members;
pub mod providers;
pub mod resources;
pub mod tenants;

use std::collections::BTreeMap;

use askama::Template;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_graphql::ApiError;
use serde::Deserialize;

use crate::form::Posted;
use crate::view;
use crate::visitor::Visitor;

#[derive(Template)]
#[template(path = "web/admin.html")]
struct Index<'a> {
    v: &'a Visitor,
    section: &'a str,
    platform: bool,
}

/// GET /admin: where the administration pages are.
pub async fn index(v: Visitor) -> Response {
    if let Some(refused) = refuse_non_admin(&v) {
        return refused;
    }
    let platform = v.actor.is_platform_admin();
    view::ok(
        &v,
        &Index {
            v: &v,
            section: "admin",
            platform,
        },
    )
}

fn not_admin() -> ApiError {
    ApiError::new(
        Code::Forbidden,
        "administration is for the tenant's administrators",
    )
}

/// A page of a list: after the row at this position.
#[derive(Deserialize, Default)]
pub(crate) struct Paged {
    pub after: Option<i64>,
}

/// The refusal page for a visitor who is no administrator, if they are not one.
fn refuse_non_admin(v: &Visitor) -> Option<Response> {
    (!v.is_admin()).then(|| view::failure(v, &not_admin()))
}

/// One labelled input of an administration form, showing what was typed (or the current
/// value) and why it was refused.
pub struct Input {
    /// The control's id, unique on its page.
    pub id: String,
    /// The control's name: the use case's name for the value, so refusals find it.
    pub name: &'static str,
    pub label: &'static str,
    /// text, number, password or url.
    pub kind: &'static str,
    pub value: String,
    pub help: Option<&'static str>,
    pub error: Option<String>,
    pub required: bool,
}

/// What a form shows: the values entered (or current) and the refusals by field name.
#[derive(Default)]
pub struct Entered {
    pub values: Posted,
    pub errors: BTreeMap<String, String>,
    /// A refusal about no one field.
    pub error: Option<String>,
}

impl Entered {
    /// What was posted, with the refusal `e` beside the field of `fields` it names.
    fn refused(posted: &Posted, e: &ApiError, fields: &[&str]) -> Self {
        let (errors, error) = view::beside(e, fields);
        Self {
            values: posted.clone(),
            errors,
            error,
        }
    }

    fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The input `name` of the form whose controls' ids start with `form`.
    fn input(&self, form: &str, name: &'static str, label: &'static str) -> Input {
        Input {
            id: format!("{form}-{name}"),
            name,
            label,
            kind: "text",
            value: self.value(name),
            help: None,
            error: self.errors.get(name).cloned(),
            required: false,
        }
    }
}

impl Input {
    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    fn help(mut self, help: &'static str) -> Self {
        self.help = Some(help);
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// An optional whole number of a form; blank is None, anything else not a number is
/// refused beside its field.
fn whole<T: std::str::FromStr>(posted: &Posted, field: &str) -> Result<Option<T>, ApiError> {
    let text = posted.get(field).map_or("", |v| v.trim());
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::invalid(format!("{field}: must be a whole number")).with_field(field)
    })
}

/// An optional decimal number of a form, as `whole`.
fn decimal(posted: &Posted, field: &str) -> Result<Option<f64>, ApiError> {
    let text = posted.get(field).map_or("", |v| v.trim());
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(ApiError::invalid(format!("{field}: must be a number")).with_field(field)),
    }
}
