//! Administration pages for tenant administrators (and platform administrators): members,
//! groups, the audit log and the accounting dashboard. Everything comes through the same
//! use cases as GraphQL, which refuse members who are not administrators.

pub mod accounting;
pub mod audit;
mod chart;
pub mod groups;
pub mod members;

use askama::Template;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_graphql::ApiError;
use serde::Deserialize;

use crate::view;
use crate::visitor::Visitor;

#[derive(Template)]
#[template(path = "web/admin.html")]
struct Index<'a> {
    v: &'a Visitor,
    section: &'a str,
}

/// GET /admin: where the administration pages are.
pub async fn index(v: Visitor) -> Response {
    if !v.is_admin() {
        return view::failure(&v, &not_admin());
    }
    view::ok(
        &v,
        &Index {
            v: &v,
            section: "admin",
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
pub struct Paged {
    after: Option<i64>,
}
